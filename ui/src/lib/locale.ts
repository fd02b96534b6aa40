// Under LANG=C (servers, CI, minimal desktops) WebKitGTK reports the language
// as "C", which is no BCP 47 tag: `new Intl.NumberFormat(navigator.language)`
// then throws, and uPlot does exactly that when it loads, which would leave
// the whole window blank. Where the reported language is not a valid tag,
// report none, so every Intl formatter uses the engine's default locale.
// Imported first in main.ts, before any module that formats numbers.
try {
  new Intl.NumberFormat(navigator.language);
} catch {
  Object.defineProperty(navigator, "language", { value: undefined, configurable: true });
  Object.defineProperty(navigator, "languages", { value: [], configurable: true });
}
