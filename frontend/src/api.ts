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
  /** The last answer to each GET and its ETag: a 304 (nothing changed) is answered from here. */
  private readonly known = new Map<string, { tag: string; body: unknown }>();
  /** Each paginated GET's next-page cursor (the X-Next-Cursor header; a 304 repeats it). */
  private readonly cursors = new Map<string, string | null>();
  /** 304s answered since the page opened (shown to tests and in docs/dashboard.md's measurement). */
  notModified = 0;

  constructor(
    private readonly base: string,
    private readonly session: Session,
  ) {}

  async call<T>(method: string, path: string, body?: unknown, absolute = false): Promise<T> {
    const token = this.session.token();
    if (!token) throw new ApiError(401, "not signed in");
    let response: Response;
    const url = absolute ? path : this.base.replace(/\/$/, "") + path;
    const cached = method === "GET" ? this.known.get(url) : undefined;
    try {
      response = await fetch(url, {
        method,
        headers: {
          Authorization: `Bearer ${token}`,
          Accept: "application/json",
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
          ...(cached ? { "If-None-Match": cached.tag } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch (error) {
      throw new ApiError(0, `the API at ${this.base} cannot be reached (${(error as Error).message})`);
    }
    if (method === "GET" && (response.ok || response.status === 304)) this.cursors.set(url, response.headers.get("X-Next-Cursor"));
    if (response.status === 304 && cached) {
      this.notModified += 1;
      return cached.body as T;
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
    const tag = response.headers.get("ETag");
    if (method === "GET" && tag) this.known.set(url, { tag, body: parsed });
    return parsed as T;
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>("GET", path);
  }

  /** A file the API answers (not JSON), e.g. a scored batch CSV: as a Blob to save. */
  async file(path: string): Promise<Blob> {
    const token = this.session.token();
    if (!token) throw new ApiError(401, "not signed in");
    let response: Response;
    try {
      response = await fetch(this.base.replace(/\/$/, "") + path, { headers: { Authorization: `Bearer ${token}` }, cache: "no-store" });
    } catch (error) {
      throw new ApiError(0, `the API at ${this.base} cannot be reached (${(error as Error).message})`);
    }
    if (!response.ok) {
      const text = await response.text();
      let parsed: unknown = undefined;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      if (response.status === 401) this.session.expire();
      throw new ApiError(response.status, messageOf(response.status, parsed, text.slice(0, 200)));
    }
    return response.blob();
  }

  /** One page of a paginated list and the cursor of the next (null: the last page). */
  async page<T>(path: string): Promise<{ items: T[]; next: string | null }> {
    const items = await this.call<T[]>("GET", path);
    return { items, next: this.cursors.get(this.base.replace(/\/$/, "") + path) ?? null };
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>("POST", path, body);
  }
}
