//! `coffer scan`: finds this vault's secret values in files, in staged changes or in git
//! history, and installs itself as a git pre-commit hook.
//!
//! The values come from [`coffer::formats::leak`] (every value and its encoded forms), collected
//! through [`coffer::tools::secret_cache`]: the secrets unchanged since the last scan are taken
//! from an age-encrypted cache, so the pre-commit hook does not decrypt the whole vault. Files are searched in parallel by the `ignore` crate's walker, which
//! honours `.gitignore` like ripgrep; binary files (a NUL in the first 8 KiB, git's rule) and
//! files over the size cap are skipped. A finding prints as `path:line:column: secret NAME
//! (field)`; the value itself is never printed.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context as _, Result, anyhow, bail};
use clap::Args;

use coffer::formats::leak::{Matcher, Owner, PatternsBuilder, Search};
use coffer::sys::private;
use coffer::tools::secret_cache;

use super::{Context, UsageError};

/// Bytes looked at to decide whether a file is binary (git looks at the first 8000).
const BINARY_PROBE: usize = 8 * 1024;
/// Default size cap: larger files are skipped (logs, dumps, bundles).
const DEFAULT_MAX_FILESIZE: u64 = 16 * 1024 * 1024;
/// The line that marks a pre-commit hook as coffer's.
const HOOK_MARKER: &str = "# coffer: refuses commits that add a secret from your vault";
/// Where an existing pre-commit hook is kept when coffer's is installed in front of it.
const CHAINED_HOOK: &str = "pre-commit.before-coffer";

#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  coffer scan                     # the current folder, honouring .gitignore
  coffer scan src config/app.yml
  coffer scan --staged            # what `git commit` would add
  coffer scan --git-history --json
  coffer scan --install-hook      # run `coffer scan --staged` before every commit

Looks for line 1 of every secret and for fields whose key suggests a secret (password, \
token, key, secret, auth, …), plus their base64 and URL-encoded forms. Values shorter than \
--min-length are skipped. Exit status: 1 when something is found, 0 when clean, 2 on usage \
errors.")]
pub struct ScanArgs {
    /// Files or folders to scan (default: the current folder)
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Scan the lines staged for the next commit in the current git repository
    #[arg(long, conflicts_with_all = ["paths", "git_history"])]
    pub staged: bool,
    /// Scan every line ever added in the current git repository's history (all refs)
    #[arg(long, conflicts_with = "paths")]
    pub git_history: bool,
    /// Install a pre-commit hook in the current repository that runs `coffer scan --staged`,
    /// keeping any existing hook and running it afterwards
    #[arg(long, conflicts_with_all = ["paths", "staged", "git_history", "json"])]
    pub install_hook: bool,
    /// Print the findings as a JSON array
    #[arg(long)]
    pub json: bool,
    /// Skip values shorter than N characters
    #[arg(long, value_name = "N", default_value_t = coffer::formats::leak::DEFAULT_MIN_LENGTH,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub min_length: usize,
    /// Skip files larger than this many bytes
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_FILESIZE)]
    pub max_filesize: u64,
}

/// One place where a value was found.
struct Finding {
    /// The commit that added the line (history scans).
    commit: Option<String>,
    path: String,
    line: usize,
    column: usize,
    owners: Vec<Owner>,
}

pub fn scan(args: &ScanArgs, ctx: &Context) -> Result<ExitCode> {
    if args.install_hook {
        return install_hook();
    }
    for path in &args.paths {
        if std::fs::symlink_metadata(path).is_err() {
            return Err(UsageError(format!("{}: no such file or folder", path.display())).into());
        }
    }
    // git starts on the diff at once and has it ready (up to a pipe's worth) by the time the
    // matcher is built: the hook waits for the longer of the two, not for both.
    let diff = if args.staged {
        Some(Diff::spawn(&["diff", "--cached"])?)
    } else if args.git_history {
        Some(Diff::spawn(&["log", "--all", "--format=%x00%H"])?)
    } else {
        None
    };
    if diff.is_some() {
        git_toplevel()?;
    }
    // A staged change is a few kilobytes: a matcher built in linear time and little memory
    // beats a DFA that takes longer to build than the whole search.
    let search = if args.staged {
        Search::Small
    } else {
        Search::Bulk
    };
    let Some(matcher) = build_matcher(ctx, args.min_length, search)? else {
        eprintln!("coffer: the vault holds no values to look for");
        return Ok(ExitCode::SUCCESS);
    };
    let mut findings = match diff {
        Some(diff) => diff.scan(&matcher, args.git_history)?,
        None => scan_files(&matcher, &args.paths, args.max_filesize)?,
    };
    drop(matcher);
    findings.sort_by(|a, b| {
        (&a.commit, &a.path, a.line, a.column).cmp(&(&b.commit, &b.path, b.line, b.column))
    });
    print_findings(&findings, args.json)?;
    if findings.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let places = findings.len();
    let what = if places == 1 { "place" } else { "places" };
    if args.staged {
        eprintln!(
            "coffer: vault secrets found in {places} staged {what}; the commit is refused. \
Remove them (coffer run and coffer inject keep secrets out of files), then commit again."
        );
    } else {
        eprintln!(
            "coffer: vault secrets found in {places} {what}; rotate any that left this machine"
        );
    }
    Ok(ExitCode::FAILURE)
}

/// Collects the values to look for, in the main store and in every mounted one (from each
/// store's scan cache where it still holds, decrypting the rest in parallel), and builds the
/// matcher.
fn build_matcher(ctx: &Context, min_length: usize, search: Search) -> Result<Option<Matcher>> {
    let mut patterns = PatternsBuilder::new(min_length);
    let mut unreadable = 0;
    for (mount, _, vault) in ctx.stores_below(&coffer::Folder::root())? {
        let cache = coffer::config::cache_dir().map(|dir| secret_cache::cache_file(&dir, &vault));
        let Some(collected) = secret_cache::collect(&vault, cache.as_deref(), min_length)? else {
            continue;
        };
        if let Some(e) = collected.cache_error {
            eprintln!(
                "coffer: warning: {} (the scan went on without it)",
                super::ui::error_line(&e.into())
            );
        }
        unreadable += collected.unreadable;
        match mount {
            // The main store comes first: its patterns are taken as they are, not copied.
            None => patterns = collected.patterns,
            Some(m) => patterns.absorb(collected.patterns, &m.prefix),
        }
    }
    if unreadable > 0 {
        eprintln!(
            "coffer: warning: {unreadable} secret(s) could not be decrypted with your identities and were not looked for"
        );
    }
    Ok(patterns.build(search)?)
}

/// Searches files and folders in parallel, honouring ignore files.
fn scan_files(matcher: &Matcher, paths: &[PathBuf], max_filesize: u64) -> Result<Vec<Finding>> {
    let defaulted = paths.is_empty();
    let roots: Vec<PathBuf> = if defaulted {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    };
    let mut walker = ignore::WalkBuilder::new(&roots[0]);
    for root in &roots[1..] {
        walker.add(root);
    }
    walker
        .hidden(false)
        .filter_entry(|e| e.file_name() != ".git")
        .threads(std::thread::available_parallelism().map_or(2, |n| n.get()));
    let findings = Mutex::new(Vec::new());
    let too_big = AtomicUsize::new(0);
    let errors = AtomicUsize::new(0);
    walker.build_parallel().run(|| {
        let mut buf = Vec::with_capacity(64 * 1024);
        let findings = &findings;
        let too_big = &too_big;
        let errors = &errors;
        Box::new(move |entry| {
            let Ok(entry) = entry else {
                errors.fetch_add(1, Ordering::Relaxed);
                return ignore::WalkState::Continue;
            };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                return ignore::WalkState::Continue;
            }
            let path = entry.path();
            match read_text_file(path, max_filesize, &mut buf) {
                Ok(true) => {}
                Ok(false) => return ignore::WalkState::Continue,
                Err(Skip::TooBig) => {
                    too_big.fetch_add(1, Ordering::Relaxed);
                    return ignore::WalkState::Continue;
                }
                Err(Skip::Unreadable) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    return ignore::WalkState::Continue;
                }
            }
            let shown = display_path(path, defaulted);
            let found = search(matcher, &buf, &shown);
            if !found.is_empty()
                && let Ok(mut all) = findings.lock()
            {
                all.extend(found);
            }
            ignore::WalkState::Continue
        })
    });
    let skipped = too_big.into_inner();
    if skipped > 0 {
        eprintln!(
            "coffer: skipped {skipped} file(s) larger than {max_filesize} bytes (--max-filesize)"
        );
    }
    let unreadable = errors.into_inner();
    if unreadable > 0 {
        eprintln!("coffer: warning: {unreadable} file(s) or folder(s) could not be read");
    }
    findings
        .into_inner()
        .map_err(|_| anyhow!("a scanning thread failed"))
}

enum Skip {
    TooBig,
    Unreadable,
}

/// Reads `path` into `buf`; `Ok(false)` for a binary file.
fn read_text_file(path: &Path, max: u64, buf: &mut Vec<u8>) -> Result<bool, Skip> {
    let mut file = std::fs::File::open(path).map_err(|_| Skip::Unreadable)?;
    let len = file.metadata().map_err(|_| Skip::Unreadable)?.len();
    if len > max {
        return Err(Skip::TooBig);
    }
    buf.clear();
    // Read at most one byte past the cap, in case the file grew since it was measured.
    (&mut file)
        .take(max + 1)
        .read_to_end(buf)
        .map_err(|_| Skip::Unreadable)?;
    if buf.len() as u64 > max {
        return Err(Skip::TooBig);
    }
    let probe = &buf[..buf.len().min(BINARY_PROBE)];
    Ok(!probe.contains(&0))
}

fn display_path(path: &Path, defaulted: bool) -> String {
    let shown = if defaulted {
        path.strip_prefix(".").unwrap_or(path)
    } else {
        path
    };
    shown.display().to_string()
}

/// Every hit in one text, with 1-based line and byte column.
fn search(matcher: &Matcher, text: &[u8], path: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let (mut line, mut line_start, mut counted) = (1usize, 0usize, 0usize);
    for hit in matcher.find_iter(text) {
        for (i, &b) in text[counted..hit.start].iter().enumerate() {
            if b == b'\n' {
                line += 1;
                line_start = counted + i + 1;
            }
        }
        counted = hit.start;
        out.push(Finding {
            commit: None,
            path: path.to_owned(),
            line,
            column: hit.start - line_start + 1,
            owners: matcher.owners(&hit),
        });
    }
    out
}

/// The top of the current git work tree; a usage error outside one.
fn git_toplevel() -> Result<PathBuf> {
    let out = Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .context("cannot run git")?;
    if !out.status.success() {
        return Err(UsageError(
            "not inside a git work tree (--staged, --git-history and --install-hook work on the current repository)".into(),
        )
        .into());
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned(),
    ))
}

/// `git ARGS -p -U0 …` running in the current repository. Dropped unread (an error, nothing to
/// look for), it is stopped and reaped.
struct Diff {
    child: std::process::Child,
    /// The git command (`diff`, `log`), for its error.
    command: &'static str,
}

impl Diff {
    fn spawn(args: &[&'static str]) -> Result<Self> {
        let child = Command::new("git")
            .args(["-c", "core.quotePath=false"])
            .args(args)
            .args([
                "-p",
                "-U0",
                "--no-color",
                "--no-ext-diff",
                "--no-textconv",
                "--no-renames",
                "--src-prefix=a/",
                "--dst-prefix=b/",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot run git")?;
        Ok(Self {
            child,
            command: args[0],
        })
    }

    /// Searches the added lines. With `commits`, lines starting with NUL carry the commit id
    /// (`--format=%x00%H`).
    fn scan(mut self, matcher: &Matcher, commits: bool) -> Result<Vec<Finding>> {
        let child = &mut self.child;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("cannot read git's output"))?;
        let mut findings = Vec::new();
        let mut commit = String::new();
        let mut file: Option<String> = None;
        let mut next_line = 0usize;
        let mut in_hunk = false;
        for raw in BufReader::with_capacity(256 * 1024, stdout).split(b'\n') {
            let raw = raw.context("cannot read git's output")?;
            if commits && raw.first() == Some(&0) {
                commit = String::from_utf8_lossy(&raw[1..])
                    .chars()
                    .take(12)
                    .collect();
                in_hunk = false;
                continue;
            }
            if raw.starts_with(b"diff --git ") {
                in_hunk = false;
                file = None;
                continue;
            }
            if !in_hunk {
                if let Some(path) = raw.strip_prefix(b"+++ ") {
                    file = diff_path(path);
                }
            }
            if raw.starts_with(b"@@ ") {
                in_hunk = true;
                next_line = hunk_start(&raw).unwrap_or(1);
                continue;
            }
            if !in_hunk {
                continue;
            }
            match raw.first() {
                Some(b'+') => {
                    if let Some(path) = &file {
                        for mut finding in search(matcher, &raw[1..], path) {
                            finding.line = next_line;
                            finding.commit = commits.then(|| commit.clone());
                            findings.push(finding);
                        }
                    }
                    next_line += 1;
                }
                Some(b' ') => next_line += 1,
                _ => {}
            }
        }
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        let status = child.wait().context("cannot wait for git")?;
        if !status.success() {
            let message = stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
            bail!("git {} failed: {}", self.command, message.trim());
        }
        Ok(findings)
    }
}

impl Drop for Diff {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The path in a `+++ b/PATH` line (`None` for a deletion), unquoting git's C-style quotes.
fn diff_path(raw: &[u8]) -> Option<String> {
    // git ends a path holding spaces with a TAB in these headers, for patch(1).
    let raw = raw.strip_suffix(b"\t").unwrap_or(raw);
    if raw == b"/dev/null" {
        return None;
    }
    let unquoted = if raw.first() == Some(&b'"') && raw.last() == Some(&b'"') && raw.len() >= 2 {
        unquote_c(&raw[1..raw.len() - 1])
    } else {
        raw.to_vec()
    };
    let path = unquoted.strip_prefix(b"b/").unwrap_or(&unquoted);
    Some(String::from_utf8_lossy(path).into_owned())
}

/// Undoes git's C-style quoting of a path (`\n`, `\"`, `\\`, octal escapes).
fn unquote_c(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'\\' || i + 1 >= s.len() {
            out.push(s[i]);
            i += 1;
            continue;
        }
        let c = s[i + 1];
        let simple = match c {
            b'n' => Some(b'\n'),
            b't' => Some(b'\t'),
            b'r' => Some(b'\r'),
            b'a' => Some(7),
            b'b' => Some(8),
            b'f' => Some(12),
            b'v' => Some(11),
            b'"' | b'\\' => Some(c),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            i += 2;
        } else if let Some(oct) = s.get(i + 1..i + 4)
            && oct.iter().all(|b| (b'0'..=b'7').contains(b))
        {
            let v = oct
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            out.push(u8::try_from(v).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(c);
            i += 2;
        }
    }
    out
}

/// The first new-file line of a hunk header `@@ -a,b +c,d @@`.
fn hunk_start(header: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(header).ok()?;
    let plus = text.split_whitespace().find(|w| w.starts_with('+'))?;
    let number = plus[1..].split(',').next()?;
    number.parse().ok()
}

fn print_findings(findings: &[Finding], json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let items: Vec<serde_json::Value> = findings
            .iter()
            .flat_map(|f| {
                f.owners.iter().map(move |o| {
                    let mut item = serde_json::json!({
                        "path": f.path,
                        "line": f.line,
                        "column": f.column,
                        "secret": o.name.as_str(),
                        "field": o.field,
                        "encoding": o.encoding.label().unwrap_or("plain"),
                    });
                    if let (Some(c), Some(map)) = (&f.commit, item.as_object_mut()) {
                        map.insert("commit".into(), c.as_str().into());
                    }
                    item
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &items)?;
        out.write_all(b"\n")?;
    } else {
        for f in findings {
            for o in &f.owners {
                let encoding = o
                    .encoding
                    .label()
                    .map(|l| format!(", {l}"))
                    .unwrap_or_default();
                let commit = f
                    .commit
                    .as_ref()
                    .map(|c| format!("{c}:"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{commit}{}:{}:{}: secret {} ({}{encoding})",
                    f.path, f.line, f.column, o.name, o.field
                )?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Installs the pre-commit hook in the current repository's hooks folder (which honours
/// `core.hooksPath`), keeping an existing hook as `pre-commit.before-coffer` and running it
/// after the scan.
fn install_hook() -> Result<ExitCode> {
    git_toplevel()?;
    let out = Command::new("git")
        .args(["rev-parse", "--git-path", "hooks"])
        .stdin(Stdio::null())
        .output()
        .context("cannot run git")?;
    if !out.status.success() {
        bail!("cannot find the repository's hooks folder");
    }
    let hooks = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim_end());
    private::create_missing_dirs(&hooks)?;
    let hook = hooks.join("pre-commit");
    let chained = hooks.join(CHAINED_HOOK);
    let mut kept = false;
    if let Ok(meta) = std::fs::symlink_metadata(&hook) {
        let ours =
            meta.is_file() && std::fs::read_to_string(&hook).is_ok_and(|t| t.contains(HOOK_MARKER));
        if ours {
            println!(
                "The pre-commit hook in {} already runs coffer scan.",
                hooks.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        if std::fs::symlink_metadata(&chained).is_ok() {
            bail!(
                "{} exists already; merge it into {} by hand, then run coffer scan --install-hook again",
                chained.display(),
                hook.display()
            );
        }
        std::fs::rename(&hook, &chained)
            .with_context(|| format!("cannot move the existing hook to {}", chained.display()))?;
        kept = true;
    }
    // Executable, atomic and durable; never over a hook that appeared meanwhile.
    let written = private::write_atomically(
        &hook,
        hook_script().as_bytes(),
        0o755,
        private::Existing::Refuse,
    );
    if let Err(e) = written {
        // Put the old hook back, unless another one took its place meanwhile.
        if kept && !matches!(e, private::PrivateError::Exists(_)) {
            let _ = std::fs::rename(&chained, &hook);
        }
        return Err(e.into());
    }
    println!(
        "Installed the coffer pre-commit hook in {}.",
        hook.display()
    );
    if kept {
        println!("The hook that was there is kept as {CHAINED_HOOK} and runs after the scan.");
    }
    Ok(ExitCode::SUCCESS)
}

/// The hook: scan the staged changes with this coffer (or the one on PATH if this one has
/// moved), then hand over to the previous hook.
fn hook_script() -> String {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "coffer".into());
    let quoted = format!("'{}'", exe.replace('\'', r"'\''"));
    format!(
        "#!/bin/sh\n\
{HOOK_MARKER}\n\
# (installed by `coffer scan --install-hook`; `git commit --no-verify` skips it once)\n\
coffer_bin={quoted}\n\
[ -x \"$coffer_bin\" ] || coffer_bin=coffer\n\
\"$coffer_bin\" scan --staged || exit $?\n\
chained=\"$(dirname \"$0\")/{CHAINED_HOOK}\"\n\
if [ -x \"$chained\" ]; then\n\
    exec \"$chained\" \"$@\"\n\
fi\n\
exit 0\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_headers() {
        assert_eq!(hunk_start(b"@@ -0,0 +1,3 @@"), Some(1));
        assert_eq!(hunk_start(b"@@ -5 +7 @@ fn x()"), Some(7));
        assert_eq!(diff_path(b"b/src/a b.rs").as_deref(), Some("src/a b.rs"));
        assert_eq!(diff_path(b"/dev/null"), None);
        assert_eq!(diff_path(b"b/a b\t").as_deref(), Some("a b"));
        assert_eq!(
            diff_path(b"\"b/we\\\"ird\\nname\\303\\251\"").as_deref(),
            Some("we\"ird\nnameé")
        );
    }
}
