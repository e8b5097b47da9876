// fetch with the bearer token; every failure becomes an ApiError with a message a person can act on.
import type { Session } from "./auth";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
  get unauthorized(): boolean {
    return this.status === 401;
  }
  /** The API could not be reached at all (network error, gateway down). */
  get unreachable(): boolean {
    return this.status === 0;
  }
}

interface ValidationDetail {
  loc?: (string | number)[];
  msg?: string;
}

function messageOf(status: number, body: unknown, fallback: string): string {
  if (body && typeof body === "object") {
    const record = body as { message?: unknown; detail?: unknown };
    if (typeof record.message === "string" && record.message) return record.message;
    if (Array.isArray(record.detail)) {
      // Powertools' 422: {"statusCode": 422, "detail": [{"loc": ["body", "force"], "msg": "..."}]}
      return record.detail
        .map((item: ValidationDetail) => {
          const where = (item.loc ?? []).filter((part) => part !== "body").join(".");
          return where ? `${where}: ${item.msg ?? "invalid"}` : (item.msg ?? "invalid");
        })
        .join("; ");
    }
  }
  return fallback || `HTTP ${status}`;
}

export class Api {
  constructor(
    private readonly base: string,
    private readonly session: Session,
  ) {}

  async call<T>(method: string, path: string, body?: unknown, absolute = false): Promise<T> {
    const token = this.session.token();
    if (!token) throw new ApiError(401, "not signed in");
    let response: Response;
    try {
      response = await fetch(absolute ? path : this.base.replace(/\/$/, "") + path, {
        method,
        headers: {
          Authorization: `Bearer ${token}`,
          Accept: "application/json",
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch (error) {
      throw new ApiError(0, `the API at ${this.base} cannot be reached (${(error as Error).message})`);
    }
    const text = await response.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      if (response.status === 401) this.session.expire();
      const error = new ApiError(response.status, messageOf(response.status, parsed, text.slice(0, 200)));
      throw error;
    }
    return parsed as T;
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>("GET", path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>("POST", path, body);
  }
}
