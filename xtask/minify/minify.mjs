// trunk's post-build hook (release builds only, see Trunk.toml): minifies the ES modules wasm-bindgen wrote
// (trunk's own minifier cannot parse them), names each after its new content, as trunk names files after
// theirs (the server lets browsers keep hashed names for a year), and writes the new name and SRI hash into
// index.html, which trunk has already finalised.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const fail = (message) => {
  console.error(`minify.mjs: ${message}`);
  process.exit(1);
};

let esbuild;
try {
  esbuild = await import("esbuild");
} catch {
  fail("esbuild is missing; `cargo xtask setup` installs it (npm ci in xtask/minify)");
}

const staging = process.env.TRUNK_STAGING_DIR ?? fail("run by trunk only (TRUNK_STAGING_DIR is unset)");
const indexPath = join(staging, "index.html");
let index = readFileSync(indexPath, "utf8");
const digest = (bytes, algorithm, encoding) => createHash(algorithm).update(bytes).digest(encoding);

const modules = readdirSync(staging, { recursive: true }).filter((file) => file.endsWith(".js"));
if (modules.length === 0) fail(`no .js in ${staging}: trunk's output changed`);
for (const name of modules) {
  const source = readFileSync(join(staging, name));
  const before = `sha384-${digest(source, "sha384", "base64")}`;
  if (!index.includes(before) || !index.includes(`/${name}`)) fail(`index.html does not name ${name} with its hash`);
  const minified = Buffer.from(
    esbuild.transformSync(source.toString("utf8"), { minify: true, format: "esm", target: "es2022" }).code,
  );
  // trunk's hash is the wasm's, so the minifier's output needs a name of its own: a new minifier or option
  // with the same wasm must not reuse a name browsers have cached.
  const renamed = name.replace(/-[0-9a-f]+\.js$/, `-${digest(minified, "sha256", "hex").slice(0, 16)}.js`);
  if (renamed === name) fail(`${name} does not end in trunk's -<hash>.js`);
  writeFileSync(join(staging, name), minified);
  renameSync(join(staging, name), join(staging, renamed));
  index = index
    .replaceAll(before, `sha384-${digest(minified, "sha384", "base64")}`)
    .replaceAll(`/${name}`, `/${renamed}`);
  console.log(`minify.mjs: ${name} (${source.length} bytes) -> ${renamed} (${minified.length} bytes)`);
}
writeFileSync(indexPath, index);
