// Messages that belong to no field: shown briefly at the bottom of the window.
export interface Toast {
  id: number;
  message: string;
  kind: "error" | "info";
}

class Toasts {
  items = $state<Toast[]>([]);
  #next = 1;

  show(message: string, kind: Toast["kind"] = "info"): void {
    const id = this.#next++;
    this.items = [...this.items, { id, message, kind }];
    setTimeout(() => this.dismiss(id), kind === "error" ? 8000 : 4000);
  }

  dismiss(id: number): void {
    this.items = this.items.filter((t) => t.id !== id);
  }
}

export const toasts = new Toasts();
