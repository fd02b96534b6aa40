// The dashboard's live state: refreshed from the backend whenever the
// pipeline reports a transition.
import { invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import { api, toApiError } from "./api";
import { tickDelay } from "./stackList";
import type { Account } from "./bindings/Account";
import type { StackView } from "./bindings/StackView";

class Dashboard {
  stacks = $state<StackView[]>([]);
  accounts = $state<Account[]>([]);
  regions = $state<string[]>([]);
  loaded = $state(false);
  loadError = $state<string | null>(null);
  /** Ticks so ages and elapsed times stay current (see `tickDelay`); not while the window is hidden. */
  now = $state(Date.now());
  #pending: ReturnType<typeof setTimeout> | null = null;
  #tick: ReturnType<typeof setTimeout> | null = null;

  /** Brings the clock up to date and sets its next tick. */
  #clock(): void {
    this.now = Date.now();
    if (this.#tick) clearTimeout(this.#tick);
    this.#tick = document.visibilityState === "hidden" ? null : setTimeout(() => this.#clock(), tickDelay(this.stacks));
  }

  async refresh(): Promise<void> {
    try {
      const [stacks, accounts] = await Promise.all([api.dashboard(), api.listAccounts()]);
      this.stacks = stacks;
      this.accounts = accounts;
      this.loadError = null;
    } catch (error) {
      this.loadError = toApiError(error).message;
    } finally {
      this.loaded = true;
      // A run may have started (tick each second) or ended (tick slowly).
      this.#clock();
    }
  }

  /** Coalesces bursts of events into one refresh. */
  scheduleRefresh(): void {
    if (this.#pending) return;
    this.#pending = setTimeout(() => {
      this.#pending = null;
      void this.refresh();
    }, 60);
  }

  async start(): Promise<void> {
    await listen("pipeline", () => this.scheduleRefresh());
    document.addEventListener("visibilitychange", () => this.#clock());
    this.regions = await api.regions().catch(() => []);
    await this.refresh();
    // Two frames later the first dashboard is on screen: tell the backend (startup figure).
    requestAnimationFrame(() => requestAnimationFrame(() => void invoke("dashboard_painted").catch(() => {})));
  }
}

export const dashboard = new Dashboard();
