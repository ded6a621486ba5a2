//! A local Go module proxy for the end-to-end tests: no test may reach proxy.golang.org, so
//! the modules the examples require are kept as plain files under `tests/modules/` and served
//! from 127.0.0.1 by this module.
//!
//! Layout of the sources: `tests/modules/<module path>@<version>/...`, each with its `go.mod`
//! (e.g. `tests/modules/example.com/greet@v1.1.0/greet.go`). [`proxy_files`] turns them into
//! the files of a GOPROXY (the `$GOPROXY/<module>/@v/...` protocol of
//! <https://go.dev/ref/mod#goproxy-protocol>):
//!
//! - `<escaped module>/@v/list`: the versions, one a line, in semver order;
//! - `<escaped module>/@v/<escaped version>.info`: `{"Version":"v1.0.0","Time":"2026-01-01T00:00:00Z"}`;
//! - `<escaped module>/@v/<escaped version>.mod`: the module's `go.mod`, byte for byte;
//! - `<escaped module>/@v/<escaped version>.zip`: every file of the module under
//!   `<module>@<version>/`, sorted, stored (no compression), fixed timestamps: the same sources
//!   always give the same bytes. Go checks modules by `go.sum`'s `h1:` hashes, which cover the
//!   files' contents, not the zip's bytes.
//!
//! Module paths and versions are case-escaped as Go does (`github.com/Azure` →
//! `github.com/!azure`), see [`escape_path`].
//!
//! [`GoProxy`] serves those files with the tests' HTTP/1.1 server ([`super::http`]) on an
//! ephemeral port of 127.0.0.1 and counts what is asked for, so a test can prove that a build
//! did (or did not) download a module.
//! Any other path gets a 404, which Go reports as the module (or version) not being found.
//! The server stops when the `GoProxy` is dropped.
//!
//! Builds reach it only from a step that shares the host's network namespace: `docker build
//! --network=host` and `--build-arg GOPROXY=<url>` (plus `GOSUMDB=off`, or `GONOSUMDB=example.com`:
//! sum.golang.org is not reachable either).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::http::{self, Handler, Response, Server};

/// `Time` of every `.info`: fixed, so the tree never changes between runs.
pub const INFO_TIME: &str = "2026-01-01T00:00:00Z";

/// DOS date and time of every zip entry: 2026-01-01 00:00:00.
const ZIP_DOS_DATE: u16 = ((2026 - 1980) << 9) | (1 << 5) | 1;
const ZIP_DOS_TIME: u16 = 0;

/// `tests/modules`: the module sources the proxy serves by default.
pub fn modules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/modules")
}

/// Go's case-escaping of module paths and versions (`golang.org/x/mod/module.EscapePath`):
/// every upper-case ASCII letter becomes `!` followed by its lower-case form.
pub fn escape_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The inverse of [`escape_path`]; `None` for a string Go would never produce (an upper-case
/// letter, or `!` not followed by a lower-case letter).
pub fn unescape_path(escaped: &str) -> Option<String> {
    let mut out = String::with_capacity(escaped.len());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        match c {
            '!' => match chars.next() {
                Some(l) if l.is_ascii_lowercase() => out.push(l.to_ascii_uppercase()),
                _ => return None,
            },
            c if c.is_ascii_uppercase() => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// One module version found under the sources directory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ModuleVersion {
    /// `example.com/greet`
    pub path: String,
    /// `v1.1.0`
    pub version: String,
    /// The directory holding its `go.mod`.
    pub dir: PathBuf,
}

impl ModuleVersion {
    /// `example.com/greet@v1.1.0`
    pub fn id(&self) -> String {
        format!("{}@{}", self.path, self.version)
    }
}

/// Every `<module path>@<version>` directory under `root` (searched recursively; the path is
/// the directory's path relative to `root`, with `/`), sorted by path, then semver.
pub fn find_modules(root: &Path) -> io::Result<Vec<ModuleVersion>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<ModuleVersion>) -> io::Result<()> {
        let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some((last, version)) = name.split_once('@') {
                let parent = rel_slash(root, dir);
                let module = if parent.is_empty() {
                    last.to_string()
                } else {
                    format!("{parent}/{last}")
                };
                if !path.join("go.mod").is_file() {
                    return Err(io::Error::other(format!(
                        "{}: a module version directory needs a go.mod",
                        path.display()
                    )));
                }
                out.push(ModuleVersion {
                    path: module,
                    version: version.to_string(),
                    dir: path,
                });
            } else {
                walk(root, &path, out)?;
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, root, &mut out)?;
    out.sort_by(|a, b| {
        a.path
            .cmp(&b.path)
            .then_with(|| semver_key(&a.version).cmp(&semver_key(&b.version)))
    });
    Ok(out)
}

/// `dir` relative to `root`, components joined with `/`.
fn rel_slash(root: &Path, dir: &Path) -> String {
    dir.strip_prefix(root)
        .expect("walk stays under its root")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Orders `vMAJOR.MINOR.PATCH[-pre]`: numbers numerically, a pre-release before its release.
/// (Enough for the versions kept here; not a full semver implementation.)
fn semver_key(v: &str) -> (Vec<u64>, bool, String) {
    let v = v.strip_prefix('v').unwrap_or(v);
    let v = v.split('+').next().unwrap_or(v);
    let (core, pre) = match v.split_once('-') {
        Some((c, p)) => (c, p.to_string()),
        None => (v, String::new()),
    };
    let nums = core.split('.').map(|n| n.parse().unwrap_or(0)).collect();
    (nums, pre.is_empty(), pre)
}

/// The proxy's files, keyed by their path under the proxy root (no leading `/`), built from the
/// module sources under `modules`.
pub fn proxy_files(modules: &Path) -> io::Result<BTreeMap<String, Vec<u8>>> {
    let found = find_modules(modules)?;
    let mut files = BTreeMap::new();
    let mut lists: BTreeMap<String, String> = BTreeMap::new();
    for m in &found {
        let go_mod = fs::read(m.dir.join("go.mod"))?;
        check_module_line(m, &go_mod)?;
        let base = format!("{}/@v/{}", escape_path(&m.path), escape_path(&m.version));
        files.insert(
            format!("{base}.info"),
            format!(r#"{{"Version":"{}","Time":"{INFO_TIME}"}}"#, m.version).into_bytes(),
        );
        files.insert(format!("{base}.mod"), go_mod);
        files.insert(format!("{base}.zip"), module_zip(m)?);
        // `found` is in semver order per module.
        let list = lists.entry(escape_path(&m.path)).or_default();
        list.push_str(&m.version);
        list.push('\n');
    }
    for (module, list) in lists {
        files.insert(format!("{module}/@v/list"), list.into_bytes());
    }
    Ok(files)
}

/// The `module` line of go.mod must name the directory's module path: Go refuses a `.mod`
/// whose module path differs from the one it asked for.
fn check_module_line(m: &ModuleVersion, go_mod: &[u8]) -> io::Result<()> {
    let text = String::from_utf8_lossy(go_mod);
    let declared = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("module "))
        .map(|p| p.trim().trim_matches('"'));
    if declared != Some(m.path.as_str()) {
        return Err(io::Error::other(format!(
            "{}/go.mod declares module {declared:?}, its directory says {:?}",
            m.dir.display(),
            m.path
        )));
    }
    Ok(())
}

/// Writes the proxy's files under `dir` (usable as `GOPROXY=file://<dir>` or by any static
/// file server).
pub fn write_tree(modules: &Path, dir: &Path) -> io::Result<()> {
    for (rel, bytes) in proxy_files(modules)? {
        let path = dir.join(&rel);
        fs::create_dir_all(path.parent().expect("proxy files live in @v/"))?;
        fs::write(path, bytes)?;
    }
    Ok(())
}

/// The files of a module version as Go sees them: every regular file under `m.dir`, named
/// `<module>@<version>/<relative path>`, sorted by name.
fn module_files(m: &ModuleVersion) -> io::Result<Vec<(String, Vec<u8>)>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> io::Result<()> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                walk(root, &path, out)?;
            } else if kind.is_file() {
                out.push((rel_slash(root, &path), path));
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(&m.dir, &m.dir, &mut files)?;
    files.sort();
    let prefix = m.id();
    files
        .into_iter()
        .map(|(rel, path)| Ok((format!("{prefix}/{rel}"), fs::read(path)?)))
        .collect()
}

/// The module zip: [`module_files`] in a deterministic zip.
fn module_zip(m: &ModuleVersion) -> io::Result<Vec<u8>> {
    Ok(zip_stored(&module_files(m)?))
}

/// Go's `h1:` hash (`golang.org/x/mod/sumdb/dirhash.Hash1`): SHA-256 over the lines
/// `<hex sha256 of the file>  <name>\n` of the files sorted by name, base64.
fn hash1(files: &[(String, Vec<u8>)]) -> String {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut summary = Sha256::new();
    for (name, data) in sorted {
        summary.update(format!("{:x}  {name}\n", Sha256::digest(data)));
    }
    format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(summary.finalize())
    )
}

/// The two `go.sum` lines of a module version (`<module> <version> h1:…` and
/// `<module> <version>/go.mod h1:…`), each ending in a newline: what a test appends to a
/// go.sum when it adds a requirement (Go refuses a requirement whose sums are missing when
/// go.sum cannot be written, as in the frontend's read-only deps step).
pub fn go_sum_lines(m: &ModuleVersion) -> io::Result<String> {
    let go_mod = fs::read(m.dir.join("go.mod"))?;
    Ok(format!(
        "{path} {version} {zip}\n{path} {version}/go.mod {gomod}\n",
        path = m.path,
        version = m.version,
        zip = hash1(&module_files(m)?),
        gomod = hash1(&[("go.mod".to_string(), go_mod)]),
    ))
}

/// CRC-32 (IEEE), as zip wants it.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A zip archive of `(name, contents)` entries, in the given order, stored (method 0), every
/// entry with the same timestamp and no extra fields: deterministic bytes.
fn zip_stored(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    fn u16le(out: &mut Vec<u8>, v: u16) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    fn u32le(out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let small = |n: usize| u32::try_from(n).expect("test module files are small");
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = small(out.len());
        let crc = crc32(data);
        let size = small(data.len());
        let name_len = u16::try_from(name.len()).expect("short file names");
        // local file header
        u32le(&mut out, 0x0403_4b50);
        u16le(&mut out, 20); // version needed: 2.0
        u16le(&mut out, 0); // flags
        u16le(&mut out, 0); // method: stored
        u16le(&mut out, ZIP_DOS_TIME);
        u16le(&mut out, ZIP_DOS_DATE);
        u32le(&mut out, crc);
        u32le(&mut out, size); // compressed size
        u32le(&mut out, size); // uncompressed size
        u16le(&mut out, name_len);
        u16le(&mut out, 0); // extra length
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        // central directory header
        u32le(&mut central, 0x0201_4b50);
        u16le(&mut central, (3 << 8) | 20); // made by: Unix, 2.0
        u16le(&mut central, 20);
        u16le(&mut central, 0);
        u16le(&mut central, 0);
        u16le(&mut central, ZIP_DOS_TIME);
        u16le(&mut central, ZIP_DOS_DATE);
        u32le(&mut central, crc);
        u32le(&mut central, size);
        u32le(&mut central, size);
        u16le(&mut central, name_len);
        u16le(&mut central, 0); // extra length
        u16le(&mut central, 0); // comment length
        u16le(&mut central, 0); // disk number
        u16le(&mut central, 0); // internal attributes
        u32le(&mut central, 0o100_644 << 16); // external attributes: regular file, 0644
        u32le(&mut central, offset);
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = small(out.len());
    let cd_size = small(central.len());
    let count = u16::try_from(entries.len()).expect("few entries");
    out.extend_from_slice(&central);
    // end of central directory
    u32le(&mut out, 0x0605_4b50);
    u16le(&mut out, 0);
    u16le(&mut out, 0);
    u16le(&mut out, count);
    u16le(&mut out, count);
    u32le(&mut out, cd_size);
    u32le(&mut out, cd_offset);
    u16le(&mut out, 0);
    out
}

/// One request the proxy answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The decoded path without the query, e.g. `/example.com/greet/@v/v1.1.0.zip`.
    pub path: String,
    /// 200, 404 or 405.
    pub status: u16,
}

/// The proxy's files and request log, shared by the [`GoProxy`] and its server's threads.
struct Shared {
    files: BTreeMap<String, Vec<u8>>,
    log: Mutex<Vec<Request>>,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Vec<Request>> {
        // A panicking handler cannot leave the log half-written (one push).
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A Go module proxy on `http://127.0.0.1:<ephemeral port>`, serving [`proxy_files`] and
/// recording every request. Stops (and frees its port) when dropped.
pub struct GoProxy {
    shared: Arc<Shared>,
    modules: Vec<ModuleVersion>,
    server: Server,
}

impl GoProxy {
    /// Serves the modules of `tests/modules`. Panics when they cannot be read or the port
    /// cannot be bound.
    pub fn start() -> GoProxy {
        let dir = modules_dir();
        GoProxy::start_from(&dir)
            .unwrap_or_else(|e| panic!("starting the Go module proxy for {}: {e}", dir.display()))
    }

    /// Serves the modules found under `modules` (same layout as `tests/modules`).
    pub fn start_from(modules: &Path) -> io::Result<GoProxy> {
        let found = find_modules(modules)?;
        let shared = Arc::new(Shared {
            files: proxy_files(modules)?,
            log: Mutex::new(Vec::new()),
        });
        let server = Server::start("goproxy", Arc::clone(&shared))?;
        Ok(GoProxy {
            shared,
            modules: found,
            server,
        })
    }

    /// `http://127.0.0.1:PORT`: the value for `GOPROXY`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The `go.sum` lines of `module@version` (see [`go_sum_lines`]). Panics for a module
    /// version the proxy does not serve.
    pub fn go_sum(&self, module_at_version: &str) -> String {
        let m = self
            .modules
            .iter()
            .find(|m| m.id() == module_at_version)
            .unwrap_or_else(|| {
                panic!(
                    "{module_at_version} is not served; modules: {:?}",
                    self.modules
                        .iter()
                        .map(ModuleVersion::id)
                        .collect::<Vec<_>>()
                )
            });
        go_sum_lines(m).unwrap_or_else(|e| panic!("go.sum lines of {module_at_version}: {e}"))
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.log().clone()
    }

    /// How often each path was asked for (all methods and statuses).
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for r in self.log().iter() {
            *counts.entry(r.path.clone()).or_insert(0) += 1;
        }
        counts
    }

    /// How often `path` (with or without the leading `/`) was asked for.
    pub fn count(&self, path: &str) -> usize {
        let path = format!("/{}", path.trim_start_matches('/'));
        self.log().iter().filter(|r| r.path == path).count()
    }

    /// `module@version` (unescaped) of every `.zip` served with 200, sorted, repeats kept: the
    /// module downloads.
    pub fn module_requests(&self) -> Vec<String> {
        self.served_with_suffix(".zip")
    }

    /// `module@version` of every `.mod` served with 200, sorted, repeats kept: the go.mod
    /// files Go needed for the module graph (it fetches them for modules it never downloads).
    pub fn mod_requests(&self) -> Vec<String> {
        self.served_with_suffix(".mod")
    }

    /// Paths answered with 404, in arrival order.
    pub fn not_found(&self) -> Vec<String> {
        self.log()
            .iter()
            .filter(|r| r.status == 404)
            .map(|r| r.path.clone())
            .collect()
    }

    /// Forgets the requests so far.
    pub fn reset_counts(&self) {
        self.log().clear();
    }

    /// The requests, one a line (`GET /path 200`), for assertion messages.
    pub fn describe_requests(&self) -> String {
        let log = self.log();
        if log.is_empty() {
            return "(no requests)".to_string();
        }
        log.iter()
            .map(|r| format!("{} {} {}", r.method, r.path, r.status))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn served_with_suffix(&self, suffix: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .log()
            .iter()
            .filter(|r| r.status == 200)
            .filter_map(|r| module_version_of(&r.path, suffix))
            .collect();
        out.sort();
        out
    }

    fn log(&self) -> MutexGuard<'_, Vec<Request>> {
        self.shared.log()
    }
}

/// `/example.com/!azure/x/@v/v1.0.0.zip` → `example.com/Azure/x@v1.0.0` (for `suffix` `.zip`).
fn module_version_of(path: &str, suffix: &str) -> Option<String> {
    let (module, file) = path.trim_start_matches('/').split_once("/@v/")?;
    let version = file.strip_suffix(suffix)?;
    Some(format!(
        "{}@{}",
        unescape_path(module)?,
        unescape_path(version)?
    ))
}

impl Handler for Shared {
    /// Serves a file of the proxy to `GET` and `HEAD` (404 when there is none) and records
    /// the request with its status.
    fn answer(&self, request: &http::Request) -> Response {
        let path = percent_decode(request.path_and_query().0);
        let response = match request.method.as_str() {
            "GET" | "HEAD" => match self.files.get(path.trim_start_matches('/')) {
                Some(bytes) => Response::new(200, bytes.clone())
                    .with_header("Content-Type", content_type_of(&path)),
                None => Response::text(404, "not found\n"),
            },
            _ => Response::text(405, "method not allowed\n"),
        };
        self.log().push(Request {
            method: request.method.clone(),
            path,
            status: response.status,
        });
        response
    }
}

fn content_type_of(path: &str) -> &'static str {
    if path.ends_with(".zip") {
        "application/zip"
    } else if path.ends_with(".info") {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    }
}

/// `%XX` → byte; anything malformed is kept as it is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;

    /// `(name, contents)` of every entry of a zip written by [`zip_stored`], read through the
    /// central directory, each entry's CRC and local header checked.
    fn read_zip(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
        let u16at = |i: usize| u16::from_le_bytes([zip[i], zip[i + 1]]) as usize;
        let u32at = |i: usize| u32::from_le_bytes(zip[i..i + 4].try_into().unwrap()) as usize;
        let eocd = zip.len() - 22;
        assert_eq!(u32at(eocd), 0x0605_4b50, "end of central directory");
        let count = u16at(eocd + 10);
        let mut at = u32at(eocd + 16);
        let mut out = Vec::new();
        for _ in 0..count {
            assert_eq!(u32at(at), 0x0201_4b50, "central directory header");
            assert_eq!(u16at(at + 10), 0, "stored");
            let crc = u32at(at + 16) as u32;
            let size = u32at(at + 24);
            let name_len = u16at(at + 28);
            let local = u32at(at + 42);
            let name = String::from_utf8(zip[at + 46..at + 46 + name_len].to_vec()).unwrap();
            assert_eq!(u32at(local), 0x0403_4b50, "local header of {name}");
            assert_eq!(&zip[local + 30..local + 30 + name_len], name.as_bytes());
            let data_at = local + 30 + name_len + u16at(local + 28);
            let data = zip[data_at..data_at + size].to_vec();
            assert_eq!(crc32(&data), crc, "CRC of {name}");
            out.push((name, data));
            at += 46 + name_len + u16at(at + 30) + u16at(at + 32);
        }
        out
    }

    #[test]
    fn escapes_upper_case_like_go() {
        assert_eq!(escape_path("example.com/greet"), "example.com/greet");
        assert_eq!(
            escape_path("github.com/Azure/azure-sdk-for-go"),
            "github.com/!azure/azure-sdk-for-go"
        );
        assert_eq!(escape_path("example.com/BigCo/X"), "example.com/!big!co/!x");
        assert_eq!(escape_path("v1.0.0-RC1"), "v1.0.0-!r!c1");
        assert_eq!(
            unescape_path("github.com/!azure/azure-sdk-for-go").as_deref(),
            Some("github.com/Azure/azure-sdk-for-go")
        );
        assert_eq!(unescape_path("example.com/Azure"), None, "not escaped");
        assert_eq!(unescape_path("example.com/!"), None);
        assert_eq!(unescape_path("example.com/!1"), None);
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn tree_of_the_test_modules() {
        let files = proxy_files(&modules_dir()).expect("tests/modules");
        let ids: Vec<String> = find_modules(&modules_dir())
            .unwrap()
            .iter()
            .map(ModuleVersion::id)
            .collect();
        assert_eq!(
            ids,
            [
                "example.com/banner@v0.1.0",
                "example.com/color@v1.0.0",
                "example.com/extra@v1.0.0",
                "example.com/greet@v1.0.0",
                "example.com/greet@v1.1.0",
            ]
        );
        let text = |k: &str| {
            String::from_utf8(
                files
                    .get(k)
                    .unwrap_or_else(|| panic!("{k} missing; files: {:?}", files.keys()))
                    .clone(),
            )
            .unwrap()
        };
        assert_eq!(text("example.com/greet/@v/list"), "v1.0.0\nv1.1.0\n");
        assert_eq!(text("example.com/banner/@v/list"), "v0.1.0\n");
        assert_eq!(
            text("example.com/greet/@v/v1.1.0.info"),
            r#"{"Version":"v1.1.0","Time":"2026-01-01T00:00:00Z"}"#
        );
        assert_eq!(
            text("example.com/banner/@v/v0.1.0.mod"),
            fs::read_to_string(modules_dir().join("example.com/banner@v0.1.0/go.mod")).unwrap()
        );
        // 5 versions x (info, mod, zip) + 4 lists
        assert_eq!(files.len(), 5 * 3 + 4, "{:?}", files.keys());

        let zip = read_zip(&files["example.com/greet/@v/v1.1.0.zip"]);
        let names: Vec<&str> = zip.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "example.com/greet@v1.1.0/go.mod",
                "example.com/greet@v1.1.0/greet.go"
            ]
        );
        assert!(String::from_utf8_lossy(&zip[1].1).contains("(greet v1.1.0)"));

        // Deterministic: the same sources give the same bytes.
        assert_eq!(files, proxy_files(&modules_dir()).unwrap());
    }

    /// The sums Go itself wrote into the examples' go.sum files (go mod tidy against this
    /// proxy): the same sources must keep giving the same hashes, or every committed go.sum
    /// breaks.
    #[test]
    fn go_sum_lines_match_what_go_computed() {
        let all = find_modules(&modules_dir()).unwrap();
        let sum = |id: &str| go_sum_lines(all.iter().find(|m| m.id() == id).unwrap()).unwrap();
        assert_eq!(
            sum("example.com/greet@v1.1.0"),
            "example.com/greet v1.1.0 h1:dXiU0HH7DlyyYSASO90rFy0OtBm29dANWQbO3rqs1gk=\n\
             example.com/greet v1.1.0/go.mod h1:cq0P48hwMNXGoO60yjlgQnfIyddJXHav9+MU5dF8bFg=\n"
        );
        assert_eq!(
            sum("example.com/extra@v1.0.0"),
            "example.com/extra v1.0.0 h1:vB+yPL7jYVfPQpFpglxmdYYv/wZwX0TCNodQsty4/LI=\n\
             example.com/extra v1.0.0/go.mod h1:fz+ffMthv5v1Ycmk99NA661bjPPZ2/Su5jxW9UOZmB4=\n"
        );
        // Every line of every example's go.sum is one the proxy's modules give.
        let ours: String = all.iter().map(|m| go_sum_lines(m).unwrap()).collect();
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut checked = 0;
        for rel in [
            "with-deps/go.sum",
            "replace/app/go.sum",
            "replace/lib/go.sum",
            "vendored/go.sum",
            "workspace/api/go.sum",
            "workspace/lib/go.sum",
        ] {
            let text = fs::read_to_string(examples.join(rel)).unwrap();
            for line in text.lines() {
                assert!(
                    ours.lines().any(|l| l == line),
                    "examples/{rel}: {line:?} is not a sum of tests/modules; ours:\n{ours}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 6 + 2 + 2 + 2 + 2 + 2);
    }

    #[test]
    fn upper_case_paths_are_escaped_in_the_tree_and_zip_keeps_the_real_path() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("example.com/BigCo/Tool@v2.0.0-RC1");
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(
            dir.join("go.mod"),
            "module example.com/BigCo/Tool\n\ngo 1.22\n",
        )
        .unwrap();
        fs::write(dir.join("sub/a.go"), "package sub\n").unwrap();
        let files = proxy_files(tmp.path()).unwrap();
        let keys: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "example.com/!big!co/!tool/@v/list",
                "example.com/!big!co/!tool/@v/v2.0.0-!r!c1.info",
                "example.com/!big!co/!tool/@v/v2.0.0-!r!c1.mod",
                "example.com/!big!co/!tool/@v/v2.0.0-!r!c1.zip",
            ]
        );
        let zip = read_zip(&files["example.com/!big!co/!tool/@v/v2.0.0-!r!c1.zip"]);
        let names: Vec<&str> = zip.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "example.com/BigCo/Tool@v2.0.0-RC1/go.mod",
                "example.com/BigCo/Tool@v2.0.0-RC1/sub/a.go"
            ]
        );

        // write_tree lays out the same files on disk.
        let out = tmp.path().join("proxy");
        write_tree(tmp.path(), &out).unwrap();
        assert_eq!(
            fs::read_to_string(out.join("example.com/!big!co/!tool/@v/list")).unwrap(),
            "v2.0.0-RC1\n"
        );
    }

    #[test]
    fn a_go_mod_naming_another_module_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("example.com/a@v1.0.0");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("go.mod"), "module example.com/b\n").unwrap();
        let err = proxy_files(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("example.com/b"), "{err}");
    }

    #[test]
    fn semver_order() {
        let mut v = ["v1.10.0", "v1.2.0", "v1.2.0-rc1", "v0.9.9"];
        v.sort_by_key(|s| semver_key(s));
        assert_eq!(v, ["v0.9.9", "v1.2.0-rc1", "v1.2.0", "v1.10.0"]);
    }

    /// One HTTP/1.1 GET over a keep-alive connection: (status, body).
    fn get(conn: &mut BufReader<TcpStream>, path: &str) -> (u16, Vec<u8>) {
        write!(
            conn.get_mut(),
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\n\r\n"
        )
        .unwrap();
        let mut status = String::new();
        conn.read_line(&mut status).unwrap();
        let code = status.split_whitespace().nth(1).unwrap().parse().unwrap();
        let mut len = 0;
        loop {
            let mut h = String::new();
            conn.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some(v) = h.strip_prefix("Content-Length: ") {
                len = v.parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        conn.read_exact(&mut body).unwrap();
        (code, body)
    }

    #[test]
    fn serves_counts_and_stops_when_dropped() {
        let proxy = GoProxy::start();
        assert!(proxy.url().starts_with("http://127.0.0.1:"));
        let mut conn = BufReader::new(TcpStream::connect(("127.0.0.1", proxy.port())).unwrap());

        let (code, body) = get(&mut conn, "/example.com/greet/@v/list");
        assert_eq!((code, body.as_slice()), (200, &b"v1.0.0\nv1.1.0\n"[..]));
        let (code, body) = get(&mut conn, "/example.com/greet/@v/v1.1.0.zip");
        assert_eq!(code, 200);
        assert_eq!(read_zip(&body).len(), 2);
        let (code, _) = get(&mut conn, "/example.com/greet/@v/v1.1.0.mod");
        assert_eq!(code, 200);
        let (code, _) = get(&mut conn, "/example.com/nosuch/@v/list");
        assert_eq!(code, 404);
        let (code, _) = get(&mut conn, "/example.com/greet/@v/v9.9.9.zip");
        assert_eq!(code, 404);
        // Percent-encoded requests find the same file.
        let (code, _) = get(&mut conn, "/example.com/greet/%40v/v1.0.0.zip");
        assert_eq!(code, 200);

        assert_eq!(
            proxy.module_requests(),
            ["example.com/greet@v1.0.0", "example.com/greet@v1.1.0"]
        );
        assert_eq!(proxy.mod_requests(), ["example.com/greet@v1.1.0"]);
        assert_eq!(proxy.count("example.com/greet/@v/list"), 1);
        assert_eq!(proxy.count("/example.com/greet/@v/v1.1.0.zip"), 1);
        assert_eq!(
            proxy.not_found(),
            [
                "/example.com/nosuch/@v/list",
                "/example.com/greet/@v/v9.9.9.zip"
            ]
        );
        assert_eq!(proxy.counts().values().sum::<usize>(), 6);
        assert_eq!(proxy.requests().len(), 6, "{}", proxy.describe_requests());

        proxy.reset_counts();
        assert!(proxy.requests().is_empty());
        assert!(proxy.module_requests().is_empty());
        assert_eq!(get(&mut conn, "/example.com/color/@v/v1.0.0.zip").0, 200);
        assert_eq!(proxy.module_requests(), ["example.com/color@v1.0.0"]);

        let port = proxy.port();
        drop(conn);
        drop(proxy);
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "nothing listens on {port} after the proxy is dropped"
        );
    }
}
