// Hash routes, so a run or a version can be linked: #/versions/3, #/runs/<run id>, #/compare/2/3.
// (The local token also arrives in the fragment, #token=…; auth.ts removes it before routing sees it.)
export type Route =
  | { view: "overview" }
  | { view: "version"; version: number }
  | { view: "run"; id: string }
  | { view: "compare"; a: number; b: number }
  | { view: "activity" }
  | { view: "monitoring" }
  | { view: "batch" };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#\/?/, "");
  let match = /^versions\/(\d{1,10})$/.exec(path);
  if (match) return { view: "version", version: Number(match[1]) };
  match = /^runs\/([A-Za-z0-9][A-Za-z0-9_-]{0,99})$/.exec(path);
  if (match) return { view: "run", id: match[1] };
  match = /^compare\/(\d{1,10})\/(\d{1,10})$/.exec(path);
  if (match) return { view: "compare", a: Number(match[1]), b: Number(match[2]) };
  if (path === "activity") return { view: "activity" };
  if (path === "monitoring") return { view: "monitoring" };
  if (path === "batch") return { view: "batch" };
  return { view: "overview" };
}

export const link = {
  version: (version: number): string => `#/versions/${version}`,
  run: (id: string): string => `#/runs/${encodeURIComponent(id)}`,
  compare: (a: number, b: number): string => `#/compare/${a}/${b}`,
  overview: (): string => "#/",
  activity: (): string => "#/activity",
  batch: (): string => "#/batch",
};
