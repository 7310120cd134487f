// Bundles the playground into ../api/playground/static: app.js (the editor and the page's
// logic, one minified script), style.css and index.html. The Falcon app inlines the script and
// the style sheet into the page it serves at `/`, so a browser makes one request for it.
import { build } from "esbuild";
import { copyFile, mkdir } from "node:fs/promises";

const out = new URL("../api/playground/static/", import.meta.url).pathname;
await mkdir(out, { recursive: true });
const common = { bundle: true, minify: true, logLevel: "warning" };
await build({ ...common, entryPoints: ["src/main.js"], outfile: out + "app.js",
              format: "iife", target: "es2020" });
await build({ ...common, entryPoints: ["style.css"], outfile: out + "style.css" });
await copyFile("index.html", out + "index.html");
