import "./lib/locale";
import "./app.css";
import { mount } from "svelte";

// One page, two kinds of window: the dashboard, and a stage's own window
// (?stage=<id>). Each loads only its own code: the dashboard never parses the
// log viewer, a stage window never parses the dashboard's dialogs.
const stage = new URLSearchParams(window.location.search).get("stage");
const target = document.getElementById("app")!;
if (stage) {
  void import("./components/stage/StageWindow.svelte").then(({ default: StageWindow }) =>
    mount(StageWindow, { target, props: { stageId: Number(stage) } }),
  );
} else {
  void import("./App.svelte").then(({ default: App }) => mount(App, { target }));
}
