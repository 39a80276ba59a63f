//! `coffer browserpass`: browserpass's native host, so the unmodified browser extension works
//! on a coffer store (docs/BEHAVIOUR.md §8); `coffer browserpass install|uninstall` registers
//! it with a browser (`browserpass/install.rs`).
//!
//! The browser starts the host once per request and speaks browserpass's protocol on its
//! standard streams: a 4-byte little-endian length, then that many bytes of UTF-8 JSON, each
//! way. The request names an `action` (`configure`, `list`, `tree`, `fetch`, `save`,
//! `delete`, `echo`); the answer is `{"status":"ok","version":N,"data":…}` or
//! `{"status":"error","code":N,"version":N,"params":{…}}` with browserpass's error codes. The
//! extension knows only gpg stores, so a secret `NAME` (the file `NAME.age`) is `NAME.gpg` to
//! it, and back. A store named in the request's settings is used only if it is a coffer or
//! passage store (it holds `.age-recipients`, or it is coffer's own); a `file` that is not a
//! secret name inside it (absolute, `..`, hidden) is refused before anything is read, and the
//! store layer refuses links.

mod install;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use coffer::vault::Changed;
use coffer::{Folder, Plaintext, SecretName, StoreError, Vault};

use super::Context;

pub use install::{BrowserpassAction, install_action};

/// The browserpass-native protocol version this host speaks (3.1.0: `tree`, `save` and
/// `delete`), as the extension checks it: MAJOR * 1000000 + MINOR * 1000 + PATCH.
pub const PROTOCOL_VERSION: u32 = 3_001_000;
/// The largest request taken. Browsers may send up to 4 GiB; a real request (settings and at
/// most one entry's contents) is a few kilobytes.
const MAX_REQUEST: u32 = 1 << 20;
/// What the extension calls an entry's file.
const GPG_SUFFIX: &str = ".gpg";

#[derive(Args, Debug)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "\
Without a subcommand, coffer answers one request of the browserpass extension on standard \
input (the browser runs it; see `coffer browserpass install`). Entries appear to the \
extension as NAME.gpg."
)]
pub struct BrowserpassArgs {
    #[command(subcommand)]
    pub action: Option<BrowserpassAction>,
}

/// browserpass's error codes (its PROTOCOL.md), those this host can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    ParseRequestLength = 10,
    ParseRequest = 11,
    InvalidAction = 12,
    InaccessibleStore = 13,
    InaccessibleDefaultStore = 14,
    UnreadableStoreSettings = 16,
    UnreadableDefaultStoreSettings = 17,
    ListFiles = 18,
    FileOutsideStore = 19,
    InvalidStoreId = 20,
    InvalidExtension = 23,
    Decrypt = 24,
    ListDirectories = 25,
    EmptyContents = 27,
    Recipients = 28,
    Encrypt = 29,
    DeleteFile = 30,
}

/// An error answer: a code and the parameters browserpass documents for it.
#[derive(Debug)]
struct Failure {
    code: Code,
    params: BTreeMap<&'static str, String>,
}

impl Failure {
    fn new(code: Code, message: &str) -> Self {
        let mut params = BTreeMap::new();
        params.insert("message", message.to_owned());
        Self { code, params }
    }

    fn with(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.params.insert(key, value.into());
        self
    }

    /// Adds the error chain as the `error` parameter.
    fn because(self, error: &(dyn std::error::Error + 'static)) -> Self {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            let cause = cause.to_string();
            if !text.contains(&cause) {
                text.push_str(": ");
                text.push_str(&cause);
            }
            source = cause_of(source);
        }
        self.with("error", super::ui::one_line(&text))
    }

    fn in_store(self, store: &Store) -> Self {
        self.with("storeId", &store.id)
            .with("storeName", &store.name)
            .with("storePath", store.path.display().to_string())
    }

    fn body(&self) -> Zeroizing<Vec<u8>> {
        #[derive(Serialize)]
        struct ErrorAnswer<'a> {
            status: &'static str,
            code: u32,
            version: u32,
            params: &'a BTreeMap<&'static str, String>,
        }
        let answer = ErrorAnswer {
            status: "error",
            code: self.code as u32,
            version: PROTOCOL_VERSION,
            params: &self.params,
        };
        // Strings and integers always serialise; the fallback only keeps this total.
        Zeroizing::new(serde_json::to_vec(&answer).unwrap_or_else(|_| {
            format!(
                r#"{{"status":"error","code":{},"version":{PROTOCOL_VERSION}}}"#,
                self.code as u32
            )
            .into_bytes()
        }))
    }

    /// One line for standard error (the browser's console shows it).
    fn summary(&self) -> String {
        let part = |key| self.params.get(key).map(String::as_str).unwrap_or_default();
        let error = part("error");
        let sep = if error.is_empty() { "" } else { ": " };
        format!(
            "error {}: {}{sep}{error}",
            self.code as u32,
            part("message")
        )
    }
}

fn cause_of<'a>(
    error: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a (dyn std::error::Error + 'static)> {
    error.and_then(std::error::Error::source)
}

/// A request, as the extension sends it. Missing fields are empty, as in browserpass.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Request {
    action: String,
    settings: Option<Settings>,
    #[serde(rename = "storeId")]
    store_id: String,
    file: String,
    /// The entry's new contents (`save`): wiped when the request is dropped.
    #[serde(deserialize_with = "zeroizing_string")]
    contents: Zeroizing<String>,
    #[serde(rename = "echoResponse")]
    echo_response: serde_json::Value,
}

fn zeroizing_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Zeroizing<String>, D::Error> {
    String::deserialize(d).map(Zeroizing::new)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Settings {
    stores: Option<BTreeMap<String, StoreSettings>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct StoreSettings {
    name: String,
    path: String,
}

impl Request {
    fn stores(&self) -> impl Iterator<Item = (&String, &StoreSettings)> {
        self.settings
            .iter()
            .filter_map(|s| s.stores.as_ref())
            .flatten()
    }
}

/// A store the request named, checked: its id, its name, its real path and a context whose
/// store it is.
struct Store {
    id: String,
    name: String,
    path: PathBuf,
    ctx: Context,
}

impl Store {
    fn vault(&self) -> Result<Vault, Failure> {
        self.ctx.vault().map_err(|e| {
            Failure::new(
                Code::InaccessibleStore,
                "The password store is not accessible",
            )
            .because(e.as_ref())
            .in_store(self)
        })
    }
}

/// Answers one request on standard input. Whatever happens, the answer is a protocol message;
/// the exit code is 0 for an ok answer and 1 for an error answer.
pub fn browserpass(ctx: &Context) -> Result<ExitCode> {
    let (op, name, mut outcome) = serve(ctx, &mut std::io::stdin().lock());
    if let (Err(failure), Some(why)) = (&mut outcome, ctx.prompt_failure()) {
        // The passphrase was not given (pinentry cancelled): say that, not "locked".
        failure.params.insert("error", why);
    }
    let body = match &outcome {
        Ok(body) => body,
        Err(failure) => &failure.body(),
    };
    let mut out = std::io::stdout().lock();
    let len = u32::try_from(body.len())?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(body)?;
    out.flush()?;
    let ok = outcome.is_ok();
    if let Some(op) = op {
        super::log::record_outcome(ctx, &op, name.as_ref(), ok);
    }
    match outcome {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(failure) => {
            eprintln!("coffer browserpass: {}", failure.summary());
            Ok(ExitCode::FAILURE)
        }
    }
}

type Answer = Result<Zeroizing<Vec<u8>>, Failure>;

/// Reads and answers the request; returns what to record in the access log (the operation,
/// unless it was `echo`, and the secret) with the answer.
fn serve(ctx: &Context, input: &mut impl Read) -> (Option<String>, Option<SecretName>, Answer) {
    let request = match read_request(input) {
        Ok(request) => request,
        Err(failure) => return (Some("browserpass".into()), None, Err(failure)),
    };
    let name = file_name(&request.file).ok();
    let op = Some(format!("browserpass-{}", request.action));
    let answer = match request.action.as_str() {
        "configure" => configure(&request, ctx),
        "list" => list(&request, ctx),
        "tree" => tree(&request, ctx),
        "fetch" => fetch(&request, ctx),
        "save" => save(&request, ctx),
        "delete" => delete(&request, ctx),
        "echo" => {
            return (
                None,
                None,
                serde_json::to_vec(&request.echo_response)
                    .map(Zeroizing::new)
                    .map_err(|e| {
                        Failure::new(Code::ParseRequest, "Unable to parse the browser request")
                            .because(&e)
                    }),
            );
        }
        other => {
            Err(Failure::new(Code::InvalidAction, "Invalid request action").with("action", other))
        }
    };
    let op = match answer {
        Err(ref f) if f.code == Code::InvalidAction => Some("browserpass".into()),
        _ => op,
    };
    (op, name, answer)
}

/// Reads the length and the JSON of one request: a short length, an oversized or truncated
/// message, or anything but a JSON object is refused before any of it is acted on.
fn read_request(input: &mut impl Read) -> Result<Request, Failure> {
    let length_failure = |error: String| {
        Failure::new(
            Code::ParseRequestLength,
            "Unable to parse the length of the browser request",
        )
        .with("error", error)
    };
    let mut length = [0u8; 4];
    input
        .read_exact(&mut length)
        .map_err(|e| length_failure(format!("cannot read the 4-byte length: {e}")))?;
    let length = u32::from_le_bytes(length);
    if length > MAX_REQUEST {
        return Err(length_failure(format!(
            "the request is {length} bytes; coffer takes at most {MAX_REQUEST}"
        )));
    }
    let request_failure = |error: String| {
        Failure::new(Code::ParseRequest, "Unable to parse the browser request").with("error", error)
    };
    let mut body = Zeroizing::new(Vec::with_capacity(length as usize));
    input
        .take(u64::from(length))
        .read_to_end(&mut body)
        .map_err(|e| request_failure(format!("cannot read the request: {e}")))?;
    if body.len() < length as usize {
        return Err(request_failure(format!(
            "the request ended after {} of {length} bytes",
            body.len()
        )));
    }
    serde_json::from_slice(&body).map_err(|e| request_failure(e.to_string()))
}

/// The secret a `file` names: `NAME.gpg` → `NAME`, only if `NAME` is a valid name (relative,
/// no `..`, no hidden component) — so every path built from it is inside the store.
fn file_name(file: &str) -> Result<SecretName, String> {
    let stem = file.strip_suffix(GPG_SUFFIX).unwrap_or(file);
    if stem.starts_with('/') {
        return Err("an absolute path is outside the store".into());
    }
    SecretName::new(stem).map_err(|e| e.to_string())
}

/// `~`, `~/…`, `$HOME` and `${HOME}` at the start of a store path, as browserpass expands them.
fn expand_home(path: &str) -> Option<PathBuf> {
    let home = || {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
    };
    for prefix in ["~", "$HOME", "${HOME}"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            if rest.is_empty() {
                return home();
            }
            if let Some(rest) = rest.strip_prefix('/') {
                return home().map(|h| h.join(rest));
            }
        }
    }
    Some(PathBuf::from(path))
}

/// Checks a store the request names: an existing folder that is coffer's own store or holds a
/// `.age-recipients` file (a coffer or passage store, not a gpg one).
fn open_store(ctx: &Context, id: &str, settings: &StoreSettings) -> Result<Store, Failure> {
    let inaccessible = |error: String| {
        Failure::new(
            Code::InaccessibleStore,
            "The password store is not accessible",
        )
        .with("error", error)
        .with("storeId", id)
        .with("storeName", &settings.name)
        .with("storePath", &settings.path)
    };
    let path = expand_home(&settings.path).ok_or_else(|| inaccessible("HOME is not set".into()))?;
    if !path.is_absolute() {
        return Err(inaccessible("the store path is not absolute".into()));
    }
    let path = path
        .canonicalize()
        .map_err(|e| inaccessible(format!("cannot open {}: {e}", path.display())))?;
    if !path.is_dir() {
        return Err(inaccessible(format!("{} is not a folder", path.display())));
    }
    let own = ctx.paths.store.canonicalize().is_ok_and(|own| own == path);
    let recipients = path.join(coffer::store::RECIPIENTS_FILE);
    let is_age_store = std::fs::symlink_metadata(&recipients).is_ok_and(|m| m.is_file());
    if !own && !is_age_store {
        return Err(inaccessible(format!(
            "{} is not a coffer or passage store (it has no {})",
            path.display(),
            coffer::store::RECIPIENTS_FILE
        )));
    }
    Ok(Store {
        id: id.to_owned(),
        name: settings.name.clone(),
        path: path.clone(),
        ctx: ctx.for_store(path),
    })
}

/// Every store of the request, checked.
fn all_stores(request: &Request, ctx: &Context) -> Result<Vec<Store>, Failure> {
    request
        .stores()
        .map(|(id, settings)| open_store(ctx, id, settings))
        .collect()
}

/// The store and secret a `fetch`, `save` or `delete` is about, checked in browserpass's
/// order: the file's extension, the store id, the store, then (coffer's own) the name.
fn target(request: &Request, ctx: &Context, action: &str) -> Result<(Store, SecretName), Failure> {
    check_extension(request, action)?;
    let Some((id, settings)) = request.stores().find(|(id, _)| **id == request.store_id) else {
        return Err(Failure::new(
            Code::InvalidStoreId,
            "The password store is not present in the list of stores",
        )
        .with("action", action)
        .with("storeId", &request.store_id));
    };
    let store = open_store(ctx, id, settings).map_err(|f| f.with("action", action))?;
    let name = file_name(&request.file).map_err(|error| {
        Failure::new(
            Code::FileOutsideStore,
            "The requested file is not an entry inside the password store",
        )
        .with("action", action)
        .with("error", error)
        .with("file", &request.file)
        .in_store(&store)
    })?;
    Ok((store, name))
}

/// Refuses a `file` that is not `*.gpg`, the only kind the extension lists.
fn check_extension(request: &Request, action: &str) -> Result<(), Failure> {
    if request.file.ends_with(GPG_SUFFIX) {
        return Ok(());
    }
    Err(Failure::new(
        Code::InvalidExtension,
        "The requested password file does not have the expected '.gpg' extension",
    )
    .with("action", action)
    .with("file", &request.file))
}

/// Serialises an ok answer around `data`. `room` is reserved up front so that a secret's
/// contents are written once into the zeroizing buffer, never into a discarded reallocation.
fn ok_answer(data: &impl Serialize, room: usize) -> Answer {
    #[derive(Serialize)]
    struct OkAnswer<'a, T> {
        status: &'static str,
        version: u32,
        data: &'a T,
    }
    let mut body = Zeroizing::new(Vec::with_capacity(room + 64));
    serde_json::to_writer(
        &mut *body,
        &OkAnswer {
            status: "ok",
            version: PROTOCOL_VERSION,
            data,
        },
    )
    .map_err(|e| Failure::new(Code::ParseRequest, "Unable to encode the response").because(&e))?;
    Ok(body)
}

/// A store's `.browserpass.json`, passed through as text (`{}` when it has none); it must be a
/// JSON object, as browserpass requires.
fn store_settings(vault: &Vault) -> Result<String, String> {
    let Some(bytes) = vault.browserpass_settings().map_err(|e| e.to_string())? else {
        return Ok("{}".into());
    };
    let text = String::from_utf8(bytes).map_err(|_| ".browserpass.json is not UTF-8".to_owned())?;
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(_)) => Ok(text),
        Ok(_) => Err(".browserpass.json is not a JSON object".into()),
        Err(e) => Err(format!(".browserpass.json is not valid JSON: {e}")),
    }
}

fn configure(request: &Request, ctx: &Context) -> Answer {
    #[derive(Serialize, Default)]
    struct DefaultStore {
        path: String,
        settings: String,
    }
    #[derive(Serialize)]
    struct Data {
        #[serde(rename = "defaultStore")]
        default_store: DefaultStore,
        #[serde(rename = "storeSettings")]
        store_settings: BTreeMap<String, String>,
    }
    let action = |f: Failure| f.with("action", "configure");
    let mut data = Data {
        default_store: DefaultStore::default(),
        store_settings: BTreeMap::new(),
    };
    let stores = all_stores(request, ctx).map_err(action)?;
    for store in &stores {
        let settings = store_settings(&store.vault().map_err(action)?).map_err(|error| {
            Failure::new(
                Code::UnreadableStoreSettings,
                "Unable to read .browserpass.json of the password store",
            )
            .with("error", error)
            .in_store(store)
        });
        data.store_settings
            .insert(store.id.clone(), settings.map_err(action)?);
    }
    // With no store configured the extension uses the default one: coffer's.
    if stores.is_empty() {
        let path = &ctx.paths.store;
        let default_failure = |code, message: &str, error: String| {
            Failure::new(code, message)
                .with("action", "configure")
                .with("error", error)
                .with("storePath", path.display().to_string())
        };
        let inaccessible = |error| {
            default_failure(
                Code::InaccessibleDefaultStore,
                "The default password store is not accessible",
                error,
            )
        };
        let real = path
            .canonicalize()
            .map_err(|e| inaccessible(e.to_string()))?;
        let vault = ctx
            .for_store(real.clone())
            .vault()
            .map_err(|e| inaccessible(super::ui::error_line(&e)))?;
        data.default_store.settings = store_settings(&vault).map_err(|error| {
            default_failure(
                Code::UnreadableDefaultStoreSettings,
                "Unable to read .browserpass.json of the default password store",
                error,
            )
        })?;
        data.default_store.path = real.display().to_string();
    }
    ok_answer(&data, 0)
}

fn list(request: &Request, ctx: &Context) -> Answer {
    #[derive(Serialize)]
    struct Data {
        files: BTreeMap<String, Vec<String>>,
    }
    let action = |f: Failure| f.with("action", "list");
    let mut files = BTreeMap::new();
    for store in all_stores(request, ctx).map_err(action)? {
        let names = store.vault().and_then(|vault| {
            vault.list(&Folder::root()).map_err(|e| {
                Failure::new(
                    Code::ListFiles,
                    "Unable to list the files in the password store",
                )
                .because(&e)
                .in_store(&store)
            })
        });
        let mut entries: Vec<String> = names
            .map_err(action)?
            .iter()
            .map(|name| format!("{name}{GPG_SUFFIX}"))
            .collect();
        entries.sort();
        files.insert(store.id, entries);
    }
    ok_answer(&Data { files }, 0)
}

fn tree(request: &Request, ctx: &Context) -> Answer {
    #[derive(Serialize)]
    struct Data {
        directories: BTreeMap<String, Vec<String>>,
    }
    fn folders_below(node: &coffer::store::TreeNode, prefix: &str, out: &mut Vec<String>) {
        for child in node.children.iter().filter(|c| c.is_folder) {
            let path = format!("{prefix}{}", child.name);
            folders_below(child, &format!("{path}/"), out);
            out.push(path);
        }
    }
    let action = |f: Failure| f.with("action", "tree");
    let mut directories = BTreeMap::new();
    for store in all_stores(request, ctx).map_err(action)? {
        let tree = store.vault().and_then(|vault| {
            vault.tree(&Folder::root()).map_err(|e| {
                Failure::new(
                    Code::ListDirectories,
                    "Unable to list the directory tree in the password store",
                )
                .because(&e)
                .in_store(&store)
            })
        });
        let mut folders = Vec::new();
        folders_below(&tree.map_err(action)?, "", &mut folders);
        folders.sort();
        directories.insert(store.id, folders);
    }
    ok_answer(&Data { directories }, 0)
}

/// The failure for a vault error about an entry: a link (or anything the store refuses to
/// reach) is "outside the store"; anything else gets `code`.
fn entry_failure(
    code: Code,
    message: &str,
    e: &coffer::Error,
    store: &Store,
    file: &str,
) -> Failure {
    let code = match e {
        coffer::Error::Store(StoreError::Symlink(_) | StoreError::NotAFile(_)) => {
            Code::FileOutsideStore
        }
        _ => code,
    };
    Failure::new(code, message)
        .because(e)
        .with("file", file)
        .in_store(store)
}

fn fetch(request: &Request, ctx: &Context) -> Answer {
    #[derive(Serialize)]
    struct Data<'a> {
        contents: &'a str,
    }
    let (store, name) = target(request, ctx, "fetch")?;
    let failure = |e: &coffer::Error| {
        entry_failure(
            Code::Decrypt,
            "Unable to decrypt the password file",
            e,
            &store,
            &request.file,
        )
        .with("action", "fetch")
    };
    let vault = store.vault().map_err(|f| f.with("action", "fetch"))?;
    let secret = vault.read(&name).map_err(|e| failure(&e))?;
    let contents = std::str::from_utf8(secret.as_bytes()).map_err(|_| {
        Failure::new(Code::Decrypt, "Unable to decrypt the password file")
            .with("action", "fetch")
            .with("error", format!("{name} is not UTF-8 text"))
            .with("file", &request.file)
            .in_store(&store)
    })?;
    // JSON escapes a byte into at most six.
    ok_answer(&Data { contents }, contents.len() * 6)
}

fn save(request: &Request, ctx: &Context) -> Answer {
    check_extension(request, "save")?;
    if request.contents.is_empty() {
        return Err(
            Failure::new(Code::EmptyContents, "The entry contents is missing")
                .with("action", "save"),
        );
    }
    let (store, name) = target(request, ctx, "save")?;
    let failure = |code, message: &str, e: coffer::Error| {
        let code = match e {
            coffer::Error::Trust(_)
            | coffer::Error::Recipients(_)
            | coffer::Error::NoRecipients(_)
            | coffer::Error::Identity(_) => Code::Recipients,
            _ => code,
        };
        entry_failure(code, message, &e, &store, &request.file).with("action", "save")
    };
    let encrypt = |e| failure(Code::Encrypt, "Unable to encrypt the password file", e);
    let vault = store.vault().map_err(|f| f.with("action", "save"))?;
    let lock = vault.lock().map_err(encrypt)?;
    let existed = vault.entry(&name).map_err(encrypt)?.secret;
    let plaintext = Plaintext::new(request.contents.as_bytes().to_vec());
    vault.write(&lock, &name, &plaintext).map_err(encrypt)?;
    let message = if existed {
        format!("Edit password for {name} using browserpass.")
    } else {
        format!("Add given password for {name} to store.")
    };
    vault
        .commit(&[Changed::Secret(name.clone())], &message)
        .map_err(encrypt)?;
    ok_answer(&serde_json::json!({}), 0)
}

fn delete(request: &Request, ctx: &Context) -> Answer {
    let (store, name) = target(request, ctx, "delete")?;
    let failure = |e: coffer::Error| {
        entry_failure(
            Code::DeleteFile,
            "Unable to delete the password file",
            &e,
            &store,
            &request.file,
        )
        .with("action", "delete")
    };
    let vault = store.vault().map_err(|f| f.with("action", "delete"))?;
    let lock = vault.lock().map_err(failure)?;
    if !vault.entry(&name).map_err(failure)?.secret {
        return Err(failure(coffer::Error::Store(StoreError::NotFound(
            name.to_string(),
        ))));
    }
    // Folders the removal empties go with it (the store prunes them).
    vault.remove(&lock, &name).map_err(failure)?;
    vault
        .commit(
            &[Changed::Secret(name.clone())],
            &format!("Remove {name} from store."),
        )
        .map_err(failure)?;
    ok_answer(&serde_json::json!({}), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as u32).to_le_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn requests_are_framed_and_bounded() {
        let ok = read_request(&mut &framed(br#"{"action":"echo"}"#)[..]);
        assert!(ok.is_ok_and(|r| r.action == "echo"));
        let short = read_request(&mut &[1u8, 0][..]);
        assert!(short.is_err_and(|f| f.code == Code::ParseRequestLength));
        let huge = read_request(&mut &(MAX_REQUEST + 1).to_le_bytes()[..]);
        assert!(huge.is_err_and(|f| f.code == Code::ParseRequestLength));
        let mut cut = framed(br#"{"action":"echo"}"#);
        cut.truncate(10);
        let truncated = read_request(&mut &cut[..]);
        assert!(truncated.is_err_and(|f| f.code == Code::ParseRequest));
        let not_json = read_request(&mut &framed(b"{action")[..]);
        assert!(not_json.is_err_and(|f| f.code == Code::ParseRequest));
    }

    #[test]
    fn files_map_to_names_inside_the_store() {
        assert_eq!(
            file_name("web/site.gpg").map(|n| n.to_string()),
            Ok("web/site".to_owned())
        );
        for outside in [
            "/etc/passwd.gpg",
            "../x.gpg",
            "a/../../x.gpg",
            ".git/x.gpg",
            ".gpg",
        ] {
            assert!(file_name(outside).is_err(), "{outside}");
        }
    }
}
