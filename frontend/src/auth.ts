// Who the dashboard calls the API as.
// local:   the token comes once in the URL fragment (#token=...), printed by `challenger local up`.
// cognito: Hosted UI, authorization code flow with PKCE; the id token is the bearer.
import type { CognitoAuth, Config } from "./types";

const TOKEN_KEY = "challenger.token";
const EXPIRES_KEY = "challenger.token.expires";
const VERIFIER_KEY = "challenger.pkce.verifier";
const STATE_KEY = "challenger.pkce.state";

export interface Session {
  token(): string | null;
  /** Forget the token (after a 401) so that the next step is signing in again. */
  expire(): void;
  signIn?: () => Promise<void>;
  signOut?: () => void;
  /** What to tell the user when they must sign in again. */
  signInHint: string;
  /** Why signing in just failed, if it did. */
  problem?: string;
}

function stored(): string | null {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const expires = Number(sessionStorage.getItem(EXPIRES_KEY) ?? "0");
  if (!token) return null;
  if (expires && Date.now() >= expires) {
    sessionStorage.removeItem(TOKEN_KEY);
    return null;
  }
  return token;
}

function store(token: string, expiresInSeconds?: number): void {
  sessionStorage.setItem(TOKEN_KEY, token);
  if (expiresInSeconds) sessionStorage.setItem(EXPIRES_KEY, String(Date.now() + (expiresInSeconds - 30) * 1000));
  else sessionStorage.removeItem(EXPIRES_KEY);
}

function clear(): void {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(EXPIRES_KEY);
}

/** The address without the fragment or the OAuth query: what stays in the address bar and history. */
function cleanAddress(url: URL, dropQuery: string[] = []): string {
  for (const name of dropQuery) url.searchParams.delete(name);
  url.hash = "";
  return url.pathname + (url.searchParams.size ? `?${url.searchParams}` : "");
}

export async function startSession(config: Config): Promise<Session> {
  return config.auth.mode === "cognito" ? cognitoSession(config.auth) : localSession();
}

function localSession(): Session {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  const token = fragment.get("token");
  if (token) {
    store(token);
    history.replaceState(null, "", cleanAddress(new URL(location.href)));
  }
  return {
    token: stored,
    expire: clear,
    signInHint:
      "The dashboard's token is missing or no longer valid. Open the dashboard URL that `challenger local up` " +
      "printed (also in .challenger/local.json as dashboard_url): it carries a fresh token.",
  };
}

function base64url(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(size = 48): string {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

async function cognitoSession(auth: CognitoAuth): Promise<Session> {
  const domain = auth.domain.startsWith("http") ? auth.domain.replace(/\/$/, "") : `https://${auth.domain}`;
  const redirectUri = location.origin + location.pathname;
  const url = new URL(location.href);
  const code = url.searchParams.get("code");
  const returnedState = url.searchParams.get("state");
  let problem: string | undefined;
  if (code) {
    try {
      await exchange(code);
    } catch (error) {
      problem = (error as Error).message;
    }
  }
  async function exchange(code: string): Promise<void> {
    const verifier = sessionStorage.getItem(VERIFIER_KEY);
    const expected = sessionStorage.getItem(STATE_KEY);
    sessionStorage.removeItem(VERIFIER_KEY);
    sessionStorage.removeItem(STATE_KEY);
    history.replaceState(null, "", cleanAddress(url, ["code", "state"]));
    if (!verifier || !expected || returnedState !== expected) {
      throw new Error("The sign-in answer did not match this browser's request; sign in again.");
    }
    const response = await fetch(`${domain}/oauth2/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        client_id: auth.clientId,
        code,
        redirect_uri: redirectUri,
        code_verifier: verifier,
      }),
    });
    if (!response.ok) throw new Error(`Signing in failed (${response.status}); sign in again.`);
    const tokens = (await response.json()) as { id_token: string; expires_in?: number };
    store(tokens.id_token, tokens.expires_in);
  }
  const signIn = async (): Promise<void> => {
    const verifier = randomString();
    const state = randomString(16);
    sessionStorage.setItem(VERIFIER_KEY, verifier);
    sessionStorage.setItem(STATE_KEY, state);
    const authorize = new URL(`${domain}/oauth2/authorize`);
    authorize.search = new URLSearchParams({
      response_type: "code",
      client_id: auth.clientId,
      redirect_uri: redirectUri,
      scope: "openid email profile",
      state,
      code_challenge_method: "S256",
      code_challenge: await challengeOf(verifier),
    }).toString();
    location.assign(authorize.toString());
  };
  const signOut = (): void => {
    clear();
    const logout = new URL(`${domain}/logout`);
    logout.search = new URLSearchParams({ client_id: auth.clientId, logout_uri: redirectUri }).toString();
    location.assign(logout.toString());
  };
  return { token: stored, expire: clear, signIn, signOut, problem, signInHint: "Your session has ended or was never started. Sign in again." };
}
