// trunk's post-build hook (release builds only, see Trunk.toml). The build fails, naming the cause, where a step
// cannot be done as planned:
// 1. The wasm's import and export names (wasm-bindgen's `__wbg_<name>_<16 hex digits>`, random to brotli) become
//    short ones (binaryen's `--minify-imports-and-exports-and-modules`), and the JS glue's references to them
//    are renamed to match (esbuild's `mangleProps`, which renames properties, never other identifiers). The glue
//    may name them only where it reaches the wasm: `wasm.<export>` and the import object's keys.
// 2. The ES module wasm-bindgen wrote is minified (trunk's own minifier cannot parse it).
// 3. So are the style sheets.
// Each file is then named after its new content, as trunk names files after theirs (the server lets browsers
// keep hashed names for a year), and its new name and SRI hash are written into index.html, which trunk has
// already finalised.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
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

// The browsers the JS is minified for (es2022), named for esbuild's CSS minifier, which knows no `es` target.
const CSS_TARGET = ["chrome94", "edge94", "firefox93", "safari15.4"];

const staging = process.env.TRUNK_STAGING_DIR ?? fail("run by trunk only (TRUNK_STAGING_DIR is unset)");
const indexPath = join(staging, "index.html");
let index = readFileSync(indexPath, "utf8");
const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/// Whether `name` stands in `text` as a whole JavaScript identifier.
const hasWord = (text, name) => new RegExp(`(?<![\\w$])${escape(name)}(?![\\w$])`).test(text);
const digest = (bytes, algorithm, encoding) => createHash(algorithm).update(bytes).digest(encoding);
const count = (text, part) => text.split(part).length - 1;
const filesEndingIn = (suffix) => readdirSync(staging, { recursive: true }).filter((file) => file.endsWith(suffix));
const theFileEndingIn = (suffix) => {
  const files = filesEndingIn(suffix);
  if (files.length !== 1) fail(`${files.length} files ending in ${suffix} in ${staging}: trunk's output changed`);
  return files[0];
};

/// Writes `bytes` as `name`'s replacement under a name after their content, and points index.html at it.
const replace = (name, bytes, suffix) => {
  const before = `sha384-${digest(readFileSync(join(staging, name)), "sha384", "base64")}`;
  // A file changed under an integrity hash left as it was would be refused by the browser.
  if (!index.includes(before) || !index.includes(`/${name}`)) fail(`index.html does not name ${name} with its hash`);
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

/// The wasm with short import and export names, and what each long name became. wasm-opt prints what it renamed:
/// `{"imports": [[module, name, short]], "exports": [[name, short]]}`, and gives every import one short module,
/// read back from the module itself. Its output goes to a scratch directory, removed before anything is checked
/// (`fail` exits at once).
const shortened = (wasmPath) => {
  const scratch = mkdtempSync(join(tmpdir(), "minify-"));
  let renames, wasm;
  try {
    const out = join(scratch, "short.wasm");
    const args = ["--minify-imports-and-exports-and-modules", wasmPath, "-o", out];
    renames = JSON.parse(execFileSync("wasm-opt", args, { encoding: "utf8" }));
    wasm = readFileSync(out);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const modules = new Set(WebAssembly.Module.imports(new WebAssembly.Module(wasm)).map((item) => item.module));
  const originals = new Set(renames.imports.map(([module]) => module));
  if (modules.size !== 1 || originals.size !== 1) fail(`imports from ${[...originals]}: expected one module`);
  const names = Object.fromEntries([...renames.imports.map(([, name, short]) => [name, short]), ...renames.exports]);
  return { wasm, module: [...originals][0], shortModule: [...modules][0], names };
};

// 1. Short import and export names.
const wasmName = theFileEndingIn("_bg.wasm");
const { wasm, module, shortModule, names } = shortened(join(staging, wasmName));
const jsName = theFileEndingIn(".js");
// wasm-bindgen passes its one import object under the module's name, a quoted key (which mangleProps leaves).
const moduleKey = `${JSON.stringify(module)}:`;
const written = readFileSync(join(staging, jsName), "utf8");
if (count(written, moduleKey) !== 1) fail(`${jsName} names the import module ${module} other than once`);
const glue = written.replace(moduleKey, `${JSON.stringify(shortModule)}:`);
// mangleProps renames a property by its name on any object: an export named like another object's property
// (`close`, `memory`) would rename that one too. So each name is first renamed to a marker of its own, without
// minifying, and every property mangleProps renamed must be one where the glue reaches the wasm.
const mangle = (cache, options) =>
  esbuild.transformSync(glue, {
    format: "esm",
    mangleProps: new RegExp(`^(${Object.keys(names).map(escape).join("|")})$`),
    mangleCache: cache,
    ...options,
  }).code;
const markers = Object.fromEntries(Object.keys(names).map((name, at) => [name, `minify_marker_${at}_`]));
const marked = mangle(markers, {});
for (const [name, marker] of Object.entries(markers)) {
  if (count(marked, marker) !== count(marked, `wasm.${marker}`) + count(marked, `${marker}: function(`)) {
    fail(`${jsName} uses the name ${name} for something else than the wasm's`);
  }
}
const minified = mangle(names, { minify: true, target: "es2022" });
// A reference mangleProps cannot see (a name built at run time, a quoted key) would fail only in a browser.
const left = Object.keys(names).filter((name) => hasWord(minified, name));
if (left.length > 0) fail(`${jsName} still refers to ${left.join(", ")} after renaming`);

// 2. Both files under their new names, the wasm first. index.html names the wasm for trunk's loader, which
// passes it to the glue (whose own default path, next to the module, is not used).
replace(wasmName, wasm, "_bg.wasm");
replace(jsName, Buffer.from(minified), ".js");

// 3. The style sheets, which trunk copies as they are written (its minifier is off for the JS's sake).
for (const name of filesEndingIn(".css")) {
  const css = readFileSync(join(staging, name), "utf8");
  replace(name, Buffer.from(esbuild.transformSync(css, { loader: "css", minify: true, target: CSS_TARGET }).code), ".css");
}
writeFileSync(indexPath, index);
