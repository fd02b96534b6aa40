import "./lib/locale";
import "./app.css";
import { mount } from "svelte";
import App from "./App.svelte";
import StageWindow from "./components/stage/StageWindow.svelte";

// One page, two kinds of window: the dashboard, and a stage's own window (?stage=<id>).
const stage = new URLSearchParams(window.location.search).get("stage");
const target = document.getElementById("app")!;
const app = stage ? mount(StageWindow, { target, props: { stageId: Number(stage) } }) : mount(App, { target });

export default app;
