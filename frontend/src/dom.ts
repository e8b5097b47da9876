// A tiny element builder: text always goes in as text (never as HTML), so API data cannot inject markup.
// Rendering builds a fresh tree and morphs the page into it (morphdom): elements that stay keep their identity,
// so keyboard focus, open <details>, scroll positions and typed text survive every poll. Behaviour is attached
// once, by delegation on data-action (see main.ts), never per element: a morph keeps old elements' listeners.
import morphdom from "morphdom";

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") element.addEventListener(name.replace(/^on/, ""), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** Make `container`'s children what `children` describe, changing only what differs. */
export function patch(container: HTMLElement, ...children: (Child | Child[])[]): void {
  const next = container.cloneNode(false) as HTMLElement;
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    next.append(child instanceof Node ? child : String(child));
  }
  morphdom(container, next, {
    childrenOnly: true,
    getNodeKey: (node) => (node instanceof HTMLElement ? node.dataset.key || node.id || undefined : undefined),
    onBeforeElUpdated: (from, to) => {
      if (from.isEqualNode(to)) return false;
      // A <details> the page does not control (an outbox email) stays as the user left it.
      if (from instanceof HTMLDetailsElement && to instanceof HTMLDetailsElement && !to.dataset.run) {
        to.open = from.open;
        if (from.isEqualNode(to)) return false;
      }
      // What the user typed belongs to the user; a textarea or input is only created, never overwritten.
      if (from instanceof HTMLTextAreaElement || (from instanceof HTMLInputElement && from.type !== "hidden")) {
        if (to instanceof HTMLInputElement || to instanceof HTMLTextAreaElement) {
          from.disabled = to.disabled;
        }
        return false;
      }
      return true;
    },
  });
}

export function $(testid: string, root: ParentNode = document): HTMLElement {
  const element = root.querySelector<HTMLElement>(`[data-testid="${testid}"]`);
  if (!element) throw new Error(`no element ${testid}`);
  return element;
}

export function show(element: HTMLElement, visible: boolean): void {
  element.hidden = !visible;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, {
        month: "short",
        day: "numeric",
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
      });
}

export function duration(start: string, end?: string | null): string {
  const ms = (end ? new Date(end).getTime() : Date.now()) - new Date(start).getTime();
  if (!Number.isFinite(ms) || ms < 0) return "";
  const seconds = Math.round(ms / 1000);
  return seconds < 90 ? `${seconds}s` : `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
}

export function metric(value: number | undefined | null): string {
  return typeof value === "number" ? value.toFixed(3) : "—";
}

export function toast(message: string, kind: "info" | "error" = "info"): void {
  const box = $("toasts");
  const item = h("div", { class: `toast ${kind}`, "data-testid": "toast", role: kind === "error" ? "alert" : null }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 12000 : 6000);
}
