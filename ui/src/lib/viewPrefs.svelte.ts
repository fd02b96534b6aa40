// How the user likes the dashboard: pipelines or a compact list, and which
// stacks are folded. Kept in the window's local storage (a view choice, not
// pipeline state).
const KEY = "stageline.dashboard.view";

interface Stored {
  mode: "pipelines" | "compact";
  collapsed: number[];
}

function read(): Stored {
  try {
    const parsed = JSON.parse(localStorage.getItem(KEY) ?? "{}") as Partial<Stored>;
    return {
      mode: parsed.mode === "compact" ? "compact" : "pipelines",
      collapsed: Array.isArray(parsed.collapsed) ? parsed.collapsed.filter((n) => typeof n === "number") : [],
    };
  } catch {
    return { mode: "pipelines", collapsed: [] };
  }
}

class ViewPrefs {
  #stored = read();
  mode = $state<Stored["mode"]>(this.#stored.mode);
  collapsed = $state<number[]>(this.#stored.collapsed);
  query = $state("");

  #save(): void {
    try {
      localStorage.setItem(KEY, JSON.stringify({ mode: this.mode, collapsed: this.collapsed }));
    } catch {
      /* storage unavailable: the choice lasts this session */
    }
  }

  setMode(mode: Stored["mode"]): void {
    this.mode = mode;
    this.#save();
  }

  isCollapsed(stackId: number): boolean {
    return this.collapsed.includes(stackId);
  }

  toggle(stackId: number): void {
    this.collapsed = this.isCollapsed(stackId)
      ? this.collapsed.filter((id) => id !== stackId)
      : [...this.collapsed, stackId];
    this.#save();
  }
}

export const viewPrefs = new ViewPrefs();
