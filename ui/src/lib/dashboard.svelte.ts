// The dashboard's live state: loaded whole at start and after the user's own
// changes; in between it applies the backend's updates of the stacks that
// changed (`applyDashboardUpdate`).
import { invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import { api, toApiError } from "./api";
import { applyDashboardUpdate } from "./dashboardUpdate";
import { tickDelay } from "./stackList";
import { DASHBOARD_EVENT } from "./bindings/rules";
import type { Account } from "./bindings/Account";
import type { DashboardUpdate } from "./bindings/DashboardUpdate";
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

  /** Applies the stacks that changed; loads everything when it cannot. */
  apply(update: DashboardUpdate): void {
    const next = applyDashboardUpdate(this.stacks, this.accounts, update);
    if (next === null) {
      this.scheduleRefresh();
      return;
    }
    this.stacks = next;
    // A run may have started (tick each second) or ended (tick slowly).
    this.#clock();
  }

  /** Coalesces requests for a whole reload into one. */
  scheduleRefresh(): void {
    if (this.#pending) return;
    this.#pending = setTimeout(() => {
      this.#pending = null;
      void this.refresh();
    }, 60);
  }

  async start(): Promise<void> {
    await listen<DashboardUpdate>(DASHBOARD_EVENT, (event) => this.apply(event.payload));
    document.addEventListener("visibilitychange", () => this.#clock());
    this.regions = await api.regions().catch(() => []);
    await this.refresh();
    // Two frames later the first dashboard is on screen: tell the backend (startup figure).
    requestAnimationFrame(() => requestAnimationFrame(() => void invoke("dashboard_painted").catch(() => {})));
  }
}

export const dashboard = new Dashboard();
