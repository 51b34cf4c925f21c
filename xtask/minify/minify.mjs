// trunk's post-build hook (release builds only, see Trunk.toml). Three steps, each checked, or the build fails:
// 1. The wasm's import and export names (wasm-bindgen's `__wbg_<name>_<16 hex digits>`, random to brotli) become
//    short ones (binaryen's `--minify-imports-and-exports-and-modules`), and the JS glue's references to them
//    are renamed to match (esbuild's `mangleProps`, which renames properties, never other identifiers).
// 2. The ES module wasm-bindgen wrote is minified (trunk's own minifier cannot parse it).
// 3. So are the style sheets.
// Each file is then named after its new content, as trunk names files after theirs (the server lets browsers
// keep hashed names for a year), and its new name and SRI hash are written into index.html, which trunk has
// already finalised.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
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
const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const digest = (bytes, algorithm, encoding) => createHash(algorithm).update(bytes).digest(encoding);
const filesEndingIn = (suffix) => {
  const files = readdirSync(staging, { recursive: true }).filter((file) => file.endsWith(suffix));
  if (files.length !== 1) fail(`${files.length} files ending in ${suffix} in ${staging}: trunk's output changed`);
  return files[0];
};

/// Writes `bytes` as `name`'s replacement under a name after their content, and points index.html at it.
const replace = (name, bytes, suffix) => {
  const before = `sha384-${digest(readFileSync(join(staging, name)), "sha384", "base64")}`;
  if (!index.includes(`/${name}`)) fail(`index.html does not name ${name}`);
  // trunk's hash is the wasm's, so a file changed here needs a name of its own: another minifier or option
  // with the same wasm must not reuse a name browsers have cached.
  const pattern = new RegExp(`-[0-9a-f]+${escape(suffix)}$`);
  const renamed = name.replace(pattern, `-${digest(bytes, "sha256", "hex").slice(0, 16)}${suffix}`);
  if (renamed === name) fail(`${name} does not end in trunk's -<hash>${suffix}`);
  writeFileSync(join(staging, name), bytes);
  renameSync(join(staging, name), join(staging, renamed));
  index = index
    .replaceAll(before, `sha384-${digest(bytes, "sha384", "base64")}`)
    .replaceAll(`/${name}`, `/${renamed}`);
  console.log(`minify.mjs: ${name} -> ${renamed} (${bytes.length} bytes)`);
};

// 1. Short import and export names. wasm-opt prints what it renamed: `{"imports": [[module, name, short]],
// "exports": [[name, short]]}`; it gives every import the same short module, read back from the module itself.
const wasmName = filesEndingIn("_bg.wasm");
const wasmPath = join(staging, wasmName);
const shortWasmPath = `${wasmPath}.short`;
const renames = JSON.parse(
  execFileSync("wasm-opt", ["--minify-imports-and-exports-and-modules", wasmPath, "-o", shortWasmPath], {
    encoding: "utf8",
  }),
);
const shortWasm = readFileSync(shortWasmPath);
const modules = new Set(WebAssembly.Module.imports(new WebAssembly.Module(shortWasm)).map((item) => item.module));
const originalModules = new Set(renames.imports.map(([module]) => module));
if (modules.size !== 1 || originalModules.size !== 1) fail(`imports from ${[...originalModules]}: expected one module`);
const [[module], [shortModule]] = [[...originalModules], [...modules]];
const shortNames = Object.fromEntries([
  ...renames.imports.map(([, name, short]) => [name, short]),
  ...renames.exports,
]);
const jsName = filesEndingIn(".js");
const glue = readFileSync(join(staging, jsName), "utf8");
// wasm-bindgen passes its one import object under the module's name, a quoted key (which mangleProps leaves).
const moduleKey = `${JSON.stringify(module)}:`;
if (glue.split(moduleKey).length !== 2) fail(`${jsName} names the import module ${module} other than once`);
const minified = esbuild.transformSync(glue.replace(moduleKey, `${JSON.stringify(shortModule)}:`), {
  minify: true,
  format: "esm",
  target: "es2022",
  mangleProps: new RegExp(`^(${Object.keys(shortNames).map(escape).join("|")})$`),
  mangleCache: shortNames,
}).code;
// A reference mangleProps cannot see (a name built at run time, a quoted key) would fail only in a browser.
const left = Object.keys(shortNames).filter((name) => new RegExp(`\\b${escape(name)}\\b`).test(minified));
if (left.length > 0) fail(`${jsName} still refers to ${left.join(", ")} after renaming`);

// 2. Both files under their new names, the wasm first (the JS does not name it; index.html does).
replace(wasmName, shortWasm, "_bg.wasm");
rmSync(shortWasmPath);
replace(jsName, Buffer.from(minified), ".js");

// 3. The style sheets, which trunk copies as they are written (its minifier is off for the JS's sake).
for (const name of readdirSync(staging, { recursive: true }).filter((file) => file.endsWith(".css"))) {
  const css = readFileSync(join(staging, name), "utf8");
  replace(name, Buffer.from(esbuild.transformSync(css, { loader: "css", minify: true }).code), ".css");
}
writeFileSync(indexPath, index);
