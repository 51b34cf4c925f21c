// trunk's post-build hook: in a release build, minifies the ES modules wasm-bindgen wrote (trunk's own minifier
// cannot parse them) and writes each one's new SRI hash into index.html, which trunk has already finalised.
// A debug build (`trunk serve`) is left as it is.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

if (process.env.TRUNK_PROFILE !== "release") process.exit(0);

let esbuild;
try {
  esbuild = await import("esbuild");
} catch {
  console.error("minify.mjs: esbuild is missing; `cargo xtask setup` installs it (npm ci in xtask/minify)");
  process.exit(1);
}

const staging = process.env.TRUNK_STAGING_DIR;
const indexPath = join(staging, "index.html");
let index = readFileSync(indexPath, "utf8");
const sri = (bytes) => `sha384-${createHash("sha384").update(bytes).digest("base64")}`;

for (const name of readdirSync(staging).filter((file) => file.endsWith(".js"))) {
  const path = join(staging, name);
  const source = readFileSync(path);
  const { code } = esbuild.transformSync(source.toString("utf8"), { minify: true, format: "esm", target: "es2022" });
  const before = sri(source);
  if (!index.includes(before)) {
    console.error(`minify.mjs: index.html does not carry ${name}'s hash; trunk's output changed`);
    process.exit(1);
  }
  writeFileSync(path, code);
  index = index.replaceAll(before, sri(code));
  console.log(`minify.mjs: ${name} ${source.length} -> ${code.length} bytes`);
}
writeFileSync(indexPath, index);
