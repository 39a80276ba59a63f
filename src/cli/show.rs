//! Reading commands: `ls`, `find`, `show`, `grep`, and git's `textconv`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use zeroize::Zeroizing;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use clap_complete::ArgValueCompleter;
use rayon::prelude::*;

use coffer::store::{NameTerms, TreeNode};
use coffer::sys::text::terminal_safe;
use coffer::{Folder, Plaintext, SecretName, Vault};

use super::{Context, UsageError, parse_name, ui};

#[derive(Args, Debug)]
pub struct LsArgs {
    /// The folder to list (default: the whole store)
    #[arg(add = ArgValueCompleter::new(super::complete::folders))]
    pub subfolder: Option<String>,
}

#[derive(Args, Debug)]
pub struct FindArgs {
    /// Terms to look for in secret and folder names (case-insensitive)
    #[arg(required = true)]
    pub terms: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The secret (or folder) to show
    #[arg(add = ArgValueCompleter::new(super::complete::secret_names))]
    pub name: Option<String>,
    /// Copy line N (default 1) to the clipboard instead of printing
    #[arg(short = 'c', long = "clip", value_name = "N", num_args = 0..=1, require_equals = true, default_missing_value = "1")]
    pub clip: Option<usize>,
    /// Show line N (default 1) as a QR code
    #[arg(short = 'q', long = "qrcode", value_name = "N", num_args = 0..=1, require_equals = true, default_missing_value = "1")]
    pub qrcode: Option<usize>,
    /// Print only the value of the field KEY (`password` is line 1); with -c or -q, copy
    /// or draw that value
    #[arg(long, value_name = "KEY", add = ArgValueCompleter::new(super::complete::field_names))]
    pub field: Option<String>,
    /// Draw the QR code even when standard output is not a terminal
    #[arg(long, requires = "qrcode")]
    pub force: bool,
    /// Show the value at an earlier revision: a commit (or branch, or conflict ref), or -N
    /// for N value changes back (re-encryptions do not count)
    #[arg(long, short = 'r', value_name = "REV", allow_hyphen_values = true)]
    pub revision: Option<String>,
}

#[derive(Args, Debug)]
pub struct GrepArgs {
    /// Ignore case
    #[arg(short = 'i', long = "ignore-case")]
    pub ignore_case: bool,
    /// PATTERN is an extended regular expression
    #[arg(short = 'E', long = "extended-regexp", conflicts_with = "fixed")]
    pub extended: bool,
    /// PATTERN is a fixed string
    #[arg(short = 'F', long = "fixed-strings")]
    pub fixed: bool,
    /// Print the lines that do not match
    #[arg(short = 'v', long = "invert-match")]
    pub invert: bool,
    /// Prefix each line with its line number
    #[arg(short = 'n', long = "line-number")]
    pub line_number: bool,
    /// Match whole words only
    #[arg(short = 'w', long = "word-regexp")]
    pub word: bool,
    /// Print how many lines match in each secret instead of the lines
    #[arg(short = 'c', long = "count")]
    pub count: bool,
    /// Print N lines after each match
    #[arg(short = 'A', long = "after-context", value_name = "N")]
    pub after: Option<usize>,
    /// Print N lines before each match
    #[arg(short = 'B', long = "before-context", value_name = "N")]
    pub before: Option<usize>,
    /// Print N lines before and after each match
    #[arg(short = 'C', long = "context", value_name = "N")]
    pub context: Option<usize>,
    /// Colour the names and matches: always, never or auto (on a terminal)
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
    /// What to look for (a basic regular expression, as grep's default)
    pub pattern: String,
}

/// grep's `--color=WHEN`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorWhen {
    Always,
    Never,
    Auto,
}

pub fn ls(args: &LsArgs, ctx: &Context) -> Result<ExitCode> {
    match args.subfolder.as_deref() {
        None | Some("") | Some("/") => print_tree(ctx, &Folder::root(), Some("Coffer")),
        Some(raw) => show_name(ctx, &parse_name(raw.trim_end_matches('/'))?, raw),
    }
}

fn print_tree(ctx: &Context, folder: &Folder, header: Option<&str>) -> Result<ExitCode> {
    let (mut tree, mounted) = listing(ctx, folder, None)?;
    mark_mounts(&mut tree, &mounted);
    let text = ui::render_tree(header, &tree, ui::color_stdout());
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// The tree of `folder` as the user names it: in the store it lives in, with the mounts
/// below it grafted in as folders (docs/BEHAVIOUR.md §10). Also returns where those mount
/// points are, relative to `folder`, for [`mark_mounts`]. Without mounts this is exactly the
/// main store's tree, as pass prints it. With `terms`, the tree is pruned to what matches
/// them (`find`), each store matched while it is walked.
fn listing(
    ctx: &Context,
    folder: &Folder,
    terms: Option<&NameTerms>,
) -> Result<(TreeNode, Vec<Vec<String>>)> {
    let tree_of = |vault: &Vault, folder: &Folder, terms: Option<&NameTerms>| match terms {
        Some(terms) => vault.tree_matching(folder, terms),
        None => vault.tree(folder),
    };
    let routed = ctx.mounts.route_folder(folder);
    if routed.mount.is_some() {
        let tree = tree_of(&ctx.vault_at(routed.mount)?, &routed.inner, terms)?;
        return Ok((tree, Vec::new()));
    }
    let below: Vec<_> = ctx.mounts.below(folder).collect();
    // Where each mount point is, relative to `folder`, and the terms its tree is pruned with
    // (a mount point on a path that matches is kept whole, as a matching folder is).
    let places: Vec<(Vec<String>, Option<&NameTerms>)> = below
        .iter()
        .map(|mount| {
            let rest = match folder.as_name() {
                None => mount.prefix.to_string(),
                Some(_) => mount
                    .prefix
                    .as_name()
                    .and_then(|p| folder.strip(&p))
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
            };
            let path: Vec<String> = rest.split('/').map(str::to_owned).collect();
            let mount_terms = terms.filter(|t| !path.iter().any(|part| t.matches(part)));
            (path, mount_terms)
        })
        .collect();
    // Each store is walked on its own thread: the stores are independent, and with mounts
    // the walks, not the grafting, are the listing's time.
    let (main, subtrees) = rayon::join(
        || tree_of(&ctx.vault()?, folder, terms).map_err(anyhow::Error::from),
        || {
            below
                .par_iter()
                .zip(&places)
                .map(|(mount, (_, mount_terms))| {
                    ctx.vault_at(Some(mount))
                        .and_then(|v| Ok(tree_of(&v, &Folder::root(), *mount_terms)?))
                })
                .collect::<Vec<_>>()
        },
    );
    let mut tree = match main {
        Ok(tree) => tree,
        // A folder that exists only as the way to a mount point.
        Err(e)
            if !below.is_empty()
                && matches!(
                    e.downcast_ref::<coffer::Error>(),
                    Some(coffer::Error::Store(coffer::StoreError::NotFound(_)))
                ) =>
        {
            TreeNode {
                name: folder.to_string(),
                is_folder: true,
                children: Vec::new(),
            }
        }
        Err(e) => return Err(e),
    };
    let mut mounted = Vec::new();
    for ((path, _), subtree) in places.into_iter().zip(subtrees) {
        let subtree = match subtree {
            Ok(t) => t,
            Err(e) => {
                eprintln!("coffer: {}", ui::error_line(&e));
                TreeNode {
                    name: String::new(),
                    is_folder: true,
                    children: Vec::new(),
                }
            }
        };
        graft(&mut tree, &path, subtree.children);
        mounted.push(path);
    }
    // Grafting makes the folders on the way to each mount point: those leading to nothing
    // that matches go again (pruning what is pruned already changes nothing).
    if let Some(terms) = terms
        && !mounted.is_empty()
    {
        tree.prune(terms);
    }
    Ok((tree, mounted))
}

/// Puts `children` at `path` below `node`, making the folders on the way, keeping each
/// level in the order the store's own trees have.
fn graft(node: &mut TreeNode, path: &[String], children: Vec<TreeNode>) {
    let Some((first, rest)) = path.split_first() else {
        node.children = children;
        return;
    };
    let index = match node
        .children
        .iter()
        .position(|c| c.name == *first && c.is_folder)
    {
        Some(i) => i,
        None => {
            node.children.push(TreeNode {
                name: first.clone(),
                is_folder: true,
                children: Vec::new(),
            });
            node.children
                .sort_by(|a, b| a.name.cmp(&b.name).then(b.is_folder.cmp(&a.is_folder)));
            node.children
                .iter()
                .position(|c| c.name == *first && c.is_folder)
                .unwrap_or_default()
        }
    };
    if let Some(child) = node.children.get_mut(index) {
        graft(child, rest, children);
    }
}

/// Marks each mount point still in the tree: `team (mount)`.
fn mark_mounts(tree: &mut TreeNode, mounted: &[Vec<String>]) {
    for path in mounted {
        let mut node = &mut *tree;
        let mut found = true;
        for part in path {
            match node
                .children
                .iter_mut()
                .find(|c| c.name == *part && c.is_folder)
            {
                Some(child) => node = child,
                None => {
                    found = false;
                    break;
                }
            }
        }
        if found {
            node.name.push_str(MOUNT_MARK);
        }
    }
}

/// What follows a mount point's name in `ls` and `find`.
const MOUNT_MARK: &str = " (mount)";

pub fn find(args: &FindArgs, ctx: &Context) -> Result<ExitCode> {
    let terms = NameTerms::new(&args.terms);
    let (mut tree, mounted) = listing(ctx, &Folder::root(), Some(&terms))?;
    mark_mounts(&mut tree, &mounted);
    let mut out = format!("Search Terms: {}\n", args.terms.join(","));
    out.push_str(&ui::render_tree(None, &tree, ui::color_stdout()));
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

pub fn show(args: &ShowArgs, ctx: &Context) -> Result<ExitCode> {
    // No name, or the root as pass's front-ends write it (`/`): the whole store.
    let raw = args.name.as_deref().unwrap_or_default();
    if raw.trim_end_matches('/').is_empty() {
        return print_tree(ctx, &Folder::root(), Some("Coffer"));
    }
    let shown = parse_name(raw.trim_end_matches('/'))?;
    if args.clip.is_none()
        && args.qrcode.is_none()
        && args.field.is_none()
        && args.revision.is_none()
    {
        return show_name(ctx, &shown, raw);
    }
    let (vault, name) = ctx.vault_for(&shown)?;
    if args.clip.is_some() || args.qrcode.is_some() {
        return copy_or_draw(&vault, &name, &shown, args);
    }
    if let Some(key) = &args.field {
        let secret = read(&vault, &name, args)?;
        let value = secret
            .field(key)
            .with_context(|| format!("{shown} has no field {key:?}"))?;
        let mut out = std::io::stdout().lock();
        out.write_all(value)?;
        out.write_all(b"\n")?;
        return Ok(ExitCode::SUCCESS);
    }
    write_secret(&read(&vault, &name, args)?)?;
    Ok(ExitCode::SUCCESS)
}

/// The secret's value now, or at `--revision`.
fn read(vault: &Vault, name: &SecretName, args: &ShowArgs) -> Result<Plaintext> {
    match &args.revision {
        Some(raw) => {
            let rev = super::history::parse_revision(raw)?;
            Ok(vault.read_at(name, &rev)?.plaintext)
        }
        None => Ok(vault.read(name)?),
    }
}

/// `show -c[N]` / `show -q[N]`: line N (or `--field`) to the clipboard or as a QR code. As in
/// pass, the clipboard wins when both are asked for.
fn copy_or_draw(
    vault: &Vault,
    stored: &SecretName,
    name: &SecretName,
    args: &ShowArgs,
) -> Result<ExitCode> {
    let settings = match args.clip {
        Some(_) => Some(super::clip::Settings::from_env()?),
        None => {
            super::qr::check_terminal(args.force)?;
            None
        }
    };
    let line = args.clip.or(args.qrcode).unwrap_or(1);
    if line == 0 {
        return Err(UsageError("line numbers start at 1".into()).into());
    }
    let secret = read(vault, stored, args)?;
    let value = match &args.field {
        Some(key) => {
            let value = secret
                .field(key)
                .with_context(|| format!("{name} has no field {key:?}"))?;
            if value.is_empty() {
                bail!("the field {key:?} of {name} is empty");
            }
            value
        }
        None => secret.line(line).unwrap_or_default(),
    };
    if value.is_empty() {
        bail!("there is nothing at line {line} of {name}");
    }
    match settings {
        Some(settings) => super::clip::copy(&settings, value, name.as_str())?,
        None => super::qr::show(value)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `show NAME`: the secret if there is one (a trailing `/` prefers the folder), else the
/// folder's tree. A mount point, or a folder of the main store that leads only to mount
/// points, is a folder.
fn show_name(ctx: &Context, shown: &SecretName, raw: &str) -> Result<ExitCode> {
    let routed = ctx.mounts.route_name(shown);
    let Some(name) = routed.inner else {
        return print_tree(ctx, &shown.as_folder(), Some(shown.as_str()));
    };
    let vault = ctx.vault_at(routed.mount)?;
    let entry = vault.entry(&name)?;
    let wants_folder = raw.ends_with('/');
    let leads_to_mounts =
        routed.mount.is_none() && ctx.mounts.below(&shown.as_folder()).next().is_some();
    if (entry.folder || leads_to_mounts) && (!entry.secret || wants_folder) {
        return print_tree(ctx, &shown.as_folder(), Some(shown.as_str()));
    }
    let secret = vault.read(&name)?;
    write_secret(&secret)?;
    Ok(ExitCode::SUCCESS)
}

fn write_secret(secret: &Plaintext) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(secret.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// git's textconv: decrypt the blob git hands us (a temporary file outside the store).
pub fn textconv(file: &PathBuf, ctx: &Context) -> Result<ExitCode> {
    // git runs this once per blob: through the agent, as every command, an unlocked identity
    // serves a whole `git log -p` and a locked one without a terminal says so in one line.
    // Repositories set up by older versions still call `coffer --no-agent textconv`.
    let ctx = Context {
        no_agent: false,
        ..ctx.for_store(ctx.paths.store.clone())
    };
    let vault = ctx.vault()?;
    let ciphertext =
        std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let label = SecretName::new("textconv").map_err(|e| UsageError(e.to_string()))?;
    let secret = vault.decrypt(&label, &ciphertext)?;
    write_secret(&secret)?;
    Ok(ExitCode::SUCCESS)
}

/// How many secrets are decrypted (and held) at once by `grep`.
const GREP_CHUNK: usize = 256;

pub fn grep(args: &GrepArgs, ctx: &Context) -> Result<ExitCode> {
    let matcher = Matcher::new(args)?;
    let color = match args.color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => ui::color_stdout(),
    };
    // The main store, then each mount: names are printed as the user names them.
    let mut matched = false;
    let mut failed = false;
    let main = std::iter::once((None, Folder::root()));
    let mounts = ctx.mounts.iter().map(|m| (Some(m), m.prefix.clone()));
    for (mount, prefix) in main.chain(mounts) {
        let vault = match ctx.vault_at(mount) {
            Ok(vault) => vault,
            Err(e) if mount.is_some() => {
                failed = true;
                eprintln!("coffer: {}", ui::error_line(&e));
                continue;
            }
            Err(e) => return Err(e),
        };
        let (m, f) = grep_store(&vault, &prefix, &matcher, color)?;
        matched |= m;
        failed |= f;
    }
    Ok(if matched && !failed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Greps one store, its names shown below `prefix`; whether something matched, and whether
/// a secret could not be read.
fn grep_store(
    vault: &Vault,
    prefix: &Folder,
    matcher: &Matcher,
    color: bool,
) -> Result<(bool, bool)> {
    let names = vault.list(&Folder::root())?;
    if names.is_empty() {
        return Ok((false, false));
    }
    vault.identities()?;
    let mut stdout = std::io::stdout().lock();
    let (mut matched, mut failed) = (false, false);
    for chunk in names.chunks(GREP_CHUNK) {
        let results: Vec<Result<Option<Zeroizing<Vec<u8>>>>> = chunk
            .par_iter()
            .map(|name| {
                let secret = vault.read(name)?;
                Ok(matcher.report(&prefix.join(name), &secret, color))
            })
            .collect();
        for result in results {
            match result {
                Ok(Some(report)) => {
                    matched = true;
                    stdout.write_all(&report)?;
                }
                Ok(None) => {}
                Err(e) => {
                    failed = true;
                    eprintln!("coffer: {}", ui::error_line(&e));
                }
            }
        }
    }
    stdout.flush()?;
    Ok((matched, failed))
}

/// grep's options that make sense in memory, over one secret at a time.
struct Matcher {
    regex: regex::bytes::Regex,
    invert: bool,
    line_number: bool,
    count: bool,
    before: usize,
    after: usize,
}

impl Matcher {
    fn new(args: &GrepArgs) -> Result<Self> {
        let source = if args.fixed {
            regex::escape(&args.pattern)
        } else if args.extended {
            args.pattern.clone()
        } else {
            bre_to_regex(&args.pattern)
        };
        let source = if args.word {
            format!(r"\b(?:{source})\b")
        } else {
            source
        };
        let regex = regex::bytes::RegexBuilder::new(&source)
            .case_insensitive(args.ignore_case)
            .unicode(false)
            .build()
            .map_err(|e| {
                UsageError(format!("invalid pattern: {}", ui::one_line(&e.to_string())))
            })?;
        Ok(Self {
            regex,
            invert: args.invert,
            line_number: args.line_number,
            count: args.count,
            before: args.before.or(args.context).unwrap_or(0),
            after: args.after.or(args.context).unwrap_or(0),
        })
    }

    fn selects(&self, line: &[u8]) -> bool {
        self.regex.is_match(line) != self.invert
    }

    /// `NAME:` and the matching lines (with grep's context, numbers or count), as pass
    /// prints them; `None` when nothing matches.
    fn report(
        &self,
        name: &SecretName,
        secret: &Plaintext,
        color: bool,
    ) -> Option<Zeroizing<Vec<u8>>> {
        let lines: Vec<&[u8]> = secret.lines().collect();
        let selected: Vec<usize> = (0..lines.len())
            .filter(|&i| self.selects(lines[i]))
            .collect();
        if selected.is_empty() {
            return None;
        }
        // Room for everything up front: a buffer that grows leaves unwiped copies behind.
        let header = self.header(name, color);
        let room = header.len() + 2 * secret.len() + 16 * lines.len() + 64;
        let mut out = Zeroizing::new(Vec::with_capacity(room));
        out.extend_from_slice(&header);
        if self.count {
            out.extend_from_slice(format!("{}\n", selected.len()).as_bytes());
            return Some(out);
        }
        // Every line to print, with whether it matched; a gap between groups is `--`.
        let mut shown: Vec<(usize, bool)> = Vec::new();
        for &i in &selected {
            let from = i.saturating_sub(self.before);
            let to = (i + self.after).min(lines.len() - 1);
            for j in from..=to {
                match shown.last_mut() {
                    Some((last, matched)) if *last == j => *matched |= j == i,
                    Some((last, _)) if *last > j => {}
                    _ => shown.push((j, j == i || selected.binary_search(&j).is_ok())),
                }
            }
        }
        let mut previous: Option<usize> = None;
        for (i, matched) in shown {
            if previous.is_some_and(|p| p + 1 < i) {
                out.extend_from_slice(b"--\n");
            }
            previous = Some(i);
            if self.line_number {
                let mark = if matched { ':' } else { '-' };
                out.extend_from_slice(format!("{}{mark}", i + 1).as_bytes());
            }
            self.write_line(&mut out, lines[i], color && matched && !self.invert);
        }
        Some(out)
    }

    /// `NAME:` on a line of its own, coloured as pass colours it.
    fn header(&self, name: &SecretName, color: bool) -> Vec<u8> {
        if color {
            let parent = name.parent();
            let dir = if parent.is_root() {
                String::new()
            } else {
                format!("{parent}/")
            };
            let (dir, leaf) = (terminal_safe(&dir), terminal_safe(name.leaf()));
            format!("\x1b[94m{dir}\x1b[1;94m{leaf}\x1b[0m:\n").into_bytes()
        } else {
            format!("{}:\n", terminal_safe(name.as_str())).into_bytes()
        }
    }

    fn write_line(&self, out: &mut Vec<u8>, line: &[u8], highlight: bool) {
        if highlight {
            let mut last = 0;
            for m in self.regex.find_iter(line) {
                out.extend_from_slice(&line[last..m.start()]);
                out.extend_from_slice(b"\x1b[01;31m");
                out.extend_from_slice(m.as_bytes());
                out.extend_from_slice(b"\x1b[0m");
                last = m.end();
            }
            out.extend_from_slice(&line[last..]);
        } else {
            out.extend_from_slice(line);
        }
        out.push(b'\n');
    }
}

/// Translates a POSIX basic regular expression (grep's default) to the `regex` crate's
/// syntax: in a BRE, `\(`, `\)`, `\{`, `\}`, `\|`, `\+` and `\?` are the operators and the bare
/// characters are literals.
fn bre_to_regex(bre: &str) -> String {
    let mut out = String::with_capacity(bre.len() + 8);
    let mut chars = bre.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        if in_class {
            out.push(c);
            if c == ']' {
                in_class = false;
            }
            continue;
        }
        match c {
            '\\' => match chars.next() {
                Some(op @ ('(' | ')' | '{' | '}' | '|' | '+' | '?')) => out.push(op),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push_str("\\\\"),
            },
            '(' | ')' | '{' | '}' | '|' | '+' | '?' => {
                out.push('\\');
                out.push(c);
            }
            '[' => {
                in_class = true;
                out.push('[');
                // A `]` right after `[` or `[^` is a literal member.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bre_operators_and_literals() {
        assert_eq!(bre_to_regex(r"a\(b\)\{2\}"), "a(b){2}");
        assert_eq!(bre_to_regex("a(b)+c?"), r"a\(b\)\+c\?");
        assert_eq!(bre_to_regex("[]a]x"), r"[\]a]x");
        assert_eq!(bre_to_regex("^user: .*$"), "^user: .*$");
    }
}
