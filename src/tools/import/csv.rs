//! Password-manager CSV exports, mapped to pass-format secrets.
//!
//! Columns are found by their header names, not their positions, so a manager that adds or
//! reorders columns still imports; each format names the columns it must have, so the wrong
//! `--format` is caught before anything is written. Parsing uses `csv-core` (the parser behind
//! the `csv` crate) with every buffer in zeroizing memory: the export holds every password in
//! plain text, and no copy of it outlives the import.
//!
//! A row becomes: the password on line 1, then `user:` and `url:` fields, any extra fields the
//! export carries, an `otpauth://` line when it has a TOTP seed, then the notes.

use std::collections::HashMap;

use csv_core::{ReadRecordResult, Reader};
use zeroize::Zeroizing;

use super::names::{NameAllocator, name_from_parts};
use crate::crypto::secret::Plaintext;
use crate::store::name::SecretName;

/// The exports coffer understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvFormat {
    Bitwarden,
    OnePassword,
    KeePassXc,
    LastPass,
    Generic,
}

impl CsvFormat {
    /// The manager's own spelling, for messages and commit messages.
    pub fn display_name(self) -> &'static str {
        match self {
            CsvFormat::Bitwarden => "Bitwarden",
            CsvFormat::OnePassword => "1Password",
            CsvFormat::KeePassXc => "KeePassXC",
            CsvFormat::LastPass => "LastPass",
            CsvFormat::Generic => "generic",
        }
    }

    /// The header names (lower case) an export of this format always has.
    fn required(self) -> &'static [&'static [&'static str]] {
        match self {
            CsvFormat::Bitwarden => &[&["name"], &["login_password"], &["login_username"]],
            CsvFormat::OnePassword => &[&["title"], &["password"], &["username"]],
            CsvFormat::KeePassXc => &[&["group"], &["title"], &["password"], &["username"]],
            CsvFormat::LastPass => &[&["name"], &["password"], &["grouping"], &["url"]],
            CsvFormat::Generic => &[&["name", "title"], &["password"]],
        }
    }
}

/// What a column means, whatever the manager calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Role {
    Folder,
    Title,
    Username,
    Password,
    Url,
    Totp,
    Notes,
    /// Bitwarden's custom fields: `name: value` lines.
    Fields,
    /// 1Password's tags.
    Tags,
}

/// Header names (lower case, trimmed) and the role each plays. The first match wins, so the
/// more specific names come first.
const ALIASES: &[(&str, Role)] = &[
    ("folder", Role::Folder),
    ("collections", Role::Folder),
    ("group", Role::Folder),
    ("grouping", Role::Folder),
    ("path", Role::Folder),
    ("name", Role::Title),
    ("title", Role::Title),
    ("login_username", Role::Username),
    ("username", Role::Username),
    ("user", Role::Username),
    ("login", Role::Username),
    ("email", Role::Username),
    ("login_password", Role::Password),
    ("password", Role::Password),
    ("login_uri", Role::Url),
    ("url", Role::Url),
    ("uri", Role::Url),
    ("website", Role::Url),
    ("login_totp", Role::Totp),
    ("otpauth", Role::Totp),
    ("totp", Role::Totp),
    ("otp", Role::Totp),
    ("one-time password", Role::Totp),
    ("notes", Role::Notes),
    ("note", Role::Notes),
    ("extra", Role::Notes),
    ("comments", Role::Notes),
    ("fields", Role::Fields),
    ("tags", Role::Tags),
];

/// Why a whole CSV file was refused. Never carries a field's content.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("the file is empty (no header row)")]
    Empty,
    #[error(
        "this does not look like a {format} export: it has no {missing:?} column (the header row names the columns)"
    )]
    MissingColumn {
        format: &'static str,
        missing: &'static str,
    },
    #[error("line {line}: {reason}{}; nothing was imported", more_note(*.more))]
    Malformed {
        line: u64,
        reason: String,
        more: usize,
    },
}

fn more_note(more: usize) -> String {
    match more {
        0 => String::new(),
        1 => " (and 1 more malformed row)".to_owned(),
        n => format!(" (and {n} more malformed rows)"),
    }
}

/// One entry of the export, ready to store.
pub struct CsvEntry {
    /// The line the row starts on (1 is the header).
    pub line: u64,
    pub name: SecretName,
    pub content: Plaintext,
}

/// A row that could not become a secret, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowFailure {
    pub line: u64,
    /// The name the row would have had, when it got that far.
    pub name: Option<SecretName>,
    pub reason: String,
}

/// The result of reading an export.
pub struct CsvImport {
    pub entries: Vec<CsvEntry>,
    pub failures: Vec<RowFailure>,
    /// KeePassXC entries left out because they sit in its recycle bin.
    pub recycled: usize,
}

/// One parsed row: the bytes of its fields, in zeroizing memory.
struct Row {
    line: u64,
    data: Zeroizing<Vec<u8>>,
    ends: Vec<usize>,
}

impl Row {
    fn field(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.data.get(start..end)
    }

    fn len(&self) -> usize {
        self.ends.len()
    }
}

/// Splits the whole input into rows. Blank lines between rows are skipped (as csv-core does),
/// and each row knows the line it starts on.
struct Rows<'a> {
    reader: Reader,
    input: &'a [u8],
    pos: usize,
    line: u64,
}

impl<'a> Rows<'a> {
    fn new(input: &'a [u8]) -> Self {
        Self {
            reader: Reader::new(),
            input,
            pos: 0,
            line: 1,
        }
    }

    fn next_row(&mut self) -> Option<Row> {
        // Skip blank lines ourselves, so the row's first line is known exactly.
        while let Some(&b) = self.input.get(self.pos) {
            match b {
                b'\n' => self.line += 1,
                b'\r' => {}
                _ => break,
            }
            self.pos += 1;
        }
        let line = self.line;
        let mut data = Zeroizing::new(vec![0u8; 1024]);
        let mut ends = vec![0usize; 16];
        let (mut nout, mut nend) = (0, 0);
        loop {
            let rest = &self.input[self.pos..];
            let (result, nin, o, e) =
                self.reader
                    .read_record(rest, &mut data[nout..], &mut ends[nend..]);
            self.line += rest[..nin].iter().filter(|&&b| b == b'\n').count() as u64;
            self.pos += nin;
            nout += o;
            nend += e;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    // Grow without leaving an unwiped copy behind.
                    let mut bigger = Zeroizing::new(vec![0u8; data.len() * 2]);
                    bigger[..nout].copy_from_slice(&data[..nout]);
                    data = bigger;
                }
                ReadRecordResult::OutputEndsFull => ends.resize(ends.len() * 2, 0),
                ReadRecordResult::Record => {
                    ends.truncate(nend);
                    return Some(Row { line, data, ends });
                }
                ReadRecordResult::End => return None,
            }
        }
    }
}

/// Where each role's column is.
struct Columns {
    index: HashMap<Role, usize>,
    width: usize,
}

impl Columns {
    fn from_header(header: &Row, format: CsvFormat) -> Result<Self, CsvError> {
        let names: Vec<String> = (0..header.len())
            .map(|i| {
                String::from_utf8_lossy(header.field(i).unwrap_or_default())
                    .trim()
                    .to_lowercase()
            })
            .collect();
        for alternatives in format.required() {
            if !alternatives.iter().any(|a| names.iter().any(|n| n == a)) {
                return Err(CsvError::MissingColumn {
                    format: format.display_name(),
                    missing: alternatives[0],
                });
            }
        }
        let mut index = HashMap::new();
        for (alias, role) in ALIASES {
            if index.contains_key(role) {
                continue;
            }
            if let Some(i) = names.iter().position(|n| n == alias) {
                index.insert(*role, i);
            }
        }
        Ok(Self {
            index,
            width: header.len(),
        })
    }

    fn get<'r>(&self, row: &'r Row, role: Role) -> &'r str {
        self.index
            .get(&role)
            .and_then(|&i| row.field(i))
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default()
    }
}

/// Reads a whole export. A structurally broken file (a row with the wrong number of fields,
/// text that is not UTF-8) is refused as a whole, naming the line, so that nothing is imported
/// from a file that was misread. A row that is well formed but cannot be a pass-format secret
/// (a password with a line break) is reported on its own and the others are kept.
pub fn parse(input: &[u8], format: CsvFormat) -> Result<CsvImport, CsvError> {
    let mut rows = Rows::new(input);
    let header = rows.next_row().ok_or(CsvError::Empty)?;
    let columns = Columns::from_header(&header, format)?;

    let mut parsed = Vec::new();
    let mut malformed: Vec<(u64, String)> = Vec::new();
    while let Some(row) = rows.next_row() {
        if row.len() != columns.width {
            malformed.push((
                row.line,
                format!(
                    "the row has {} fields where the header has {}",
                    row.len(),
                    columns.width
                ),
            ));
        } else if let Some(i) =
            (0..row.len()).find(|&i| std::str::from_utf8(row.field(i).unwrap_or_default()).is_err())
        {
            malformed.push((row.line, format!("field {} is not valid UTF-8", i + 1)));
        } else {
            parsed.push(row);
        }
    }
    if let Some((line, reason)) = malformed.first() {
        return Err(CsvError::Malformed {
            line: *line,
            reason: reason.clone(),
            more: malformed.len() - 1,
        });
    }

    let mut out = CsvImport {
        entries: Vec::new(),
        failures: Vec::new(),
        recycled: 0,
    };
    let mut names = NameAllocator::new();
    for row in &parsed {
        if (0..row.len()).all(|i| {
            row.field(i)
                .is_none_or(|f| f.iter().all(u8::is_ascii_whitespace))
        }) {
            continue;
        }
        let entry = Entry::from_row(row, &columns, format);
        if format == CsvFormat::KeePassXc && entry.folders.first() == Some(&"Recycle Bin") {
            out.recycled += 1;
            continue;
        }
        let name = match name_from_parts(entry.folders.iter().copied(), entry.title) {
            Ok(name) => names.allocate(name),
            Err(e) => {
                out.failures.push(RowFailure {
                    line: row.line,
                    name: None,
                    reason: format!("cannot make a name from the title: {e}"),
                });
                continue;
            }
        };
        match entry.content(&name) {
            Ok(content) => out.entries.push(CsvEntry {
                line: row.line,
                name,
                content,
            }),
            Err(reason) => out.failures.push(RowFailure {
                line: row.line,
                name: Some(name),
                reason,
            }),
        }
    }
    Ok(out)
}

/// A row read through its format's conventions; borrows the row's zeroizing bytes.
struct Entry<'r> {
    folders: Vec<&'r str>,
    title: &'r str,
    username: &'r str,
    password: &'r str,
    url: &'r str,
    totp: &'r str,
    notes: &'r str,
    fields: &'r str,
    tags: &'r str,
}

impl<'r> Entry<'r> {
    fn from_row(row: &'r Row, columns: &Columns, format: CsvFormat) -> Self {
        let get = |role| columns.get(row, role);
        let folder = get(Role::Folder);
        let mut folders: Vec<&str> = match format {
            // LastPass nests folders with backslashes.
            CsvFormat::LastPass => folder.split(['\\', '/']).collect(),
            _ => folder.split('/').collect(),
        };
        folders.retain(|f| !f.trim().is_empty());
        if format == CsvFormat::KeePassXc && !folders.is_empty() {
            // KeePassXC writes the root group's own name ("Root") first.
            folders.remove(0);
        }
        let mut url = get(Role::Url).trim();
        if format == CsvFormat::LastPass && url == "http://sn" {
            // LastPass's marker for a secure note, not an address.
            url = "";
        }
        Self {
            folders,
            title: get(Role::Title),
            username: get(Role::Username),
            password: get(Role::Password),
            url,
            totp: get(Role::Totp).trim(),
            notes: get(Role::Notes),
            fields: get(Role::Fields),
            tags: get(Role::Tags).trim(),
        }
    }

    /// The pass-format secret for this entry, or why there cannot be one.
    fn content(&self, name: &SecretName) -> Result<Plaintext, String> {
        let mut out = Plaintext::with_capacity(
            self.password.len()
                + self.username.len()
                + self.url.len()
                + self.totp.len()
                + self.notes.len()
                + self.fields.len()
                + self.tags.len()
                + self.title.len() * 3
                + 64,
        );
        let buf = out.bytes_mut();
        if self.password.contains(['\n', '\r']) {
            return Err(
                "the password has a line break; a pass-format secret keeps the password on line 1"
                    .into(),
            );
        }
        buf.extend_from_slice(self.password.as_bytes());
        buf.push(b'\n');
        for (key, value) in [
            ("user", self.username),
            ("url", self.url),
            ("tags", self.tags),
        ] {
            if value.is_empty() {
                continue;
            }
            if value.contains(['\n', '\r']) {
                return Err(format!("the {key} field has a line break"));
            }
            push_line(buf, &[key.as_bytes(), b": ", value.as_bytes()]);
        }
        for line in self.fields.lines().filter(|l| !l.trim().is_empty()) {
            push_line(buf, &[line.as_bytes()]);
        }
        if !self.totp.is_empty() {
            if self.totp.contains(['\n', '\r']) {
                return Err("the TOTP field has a line break".into());
            }
            let title = match self.title.trim() {
                "" => name.leaf(),
                t => t,
            };
            match otpauth_line(self.totp, title) {
                Some(uri) => push_line(buf, &[uri.as_bytes()]),
                // Not a seed we understand (Steam's, say): kept as a field, not lost.
                None => push_line(buf, &[b"totp: ", self.totp.as_bytes()]),
            }
        }
        if !self.notes.is_empty() {
            buf.extend_from_slice(self.notes.as_bytes());
            if !self.notes.ends_with('\n') {
                buf.push(b'\n');
            }
        }
        Ok(out)
    }
}

fn push_line(buf: &mut Vec<u8>, parts: &[&[u8]]) {
    for p in parts {
        buf.extend_from_slice(p);
    }
    buf.push(b'\n');
}

/// An `otpauth://` URI kept as it is, or a bare base32 seed (spaces, dashes and padding
/// allowed, any case) made into `otpauth://totp/TITLE?secret=SEED`. `None` for anything else.
pub fn otpauth_line(totp: &str, title: &str) -> Option<Zeroizing<String>> {
    let totp = totp.trim();
    // Compared as bytes: the 10th byte need not end a character (found by fuzzing).
    if totp
        .as_bytes()
        .get(..10)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"otpauth://"))
    {
        return Some(Zeroizing::new(totp.to_owned()));
    }
    let mut seed = Zeroizing::new(String::with_capacity(totp.len()));
    for c in totp.chars() {
        match c {
            ' ' | '-' => {}
            'a'..='z' | 'A'..='Z' | '2'..='7' => seed.push(c.to_ascii_uppercase()),
            _ => break,
        }
    }
    let body = totp.trim_end_matches('=');
    let all_seed = body
        .chars()
        .all(|c| matches!(c, ' ' | '-' | 'a'..='z' | 'A'..='Z' | '2'..='7'));
    if seed.is_empty() || !all_seed {
        return None;
    }
    Some(Zeroizing::new(format!(
        "otpauth://totp/{}?secret={}",
        percent_encode(title),
        seed.as_str()
    )))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(text: &str, format: CsvFormat) -> CsvImport {
        parse(text.as_bytes(), format).unwrap()
    }

    fn content(e: &CsvEntry) -> &str {
        std::str::from_utf8(e.content.as_bytes()).unwrap()
    }

    #[test]
    fn bitwarden_rows_with_quoting_fields_and_a_bare_seed() {
        let csv = "\u{feff}folder,favorite,type,name,notes,fields,reprompt,login_uri,login_username,login_password,login_totp\n\
Work/Mail,1,login,\"Inbox, main\",\"two\nlines\",\"PIN: 1234\nRecovery: x\",0,https://mail.example,alice,\"p\"\"w\",jbsw y3dp ehpk 3pxp\n\
,,note,Diary,just a note,,0,,,,\n";
        let got = import(csv, CsvFormat::Bitwarden);
        assert!(got.failures.is_empty());
        assert_eq!(got.entries.len(), 2);
        assert_eq!(got.entries[0].name.as_str(), "Work/Mail/Inbox, main");
        assert_eq!(got.entries[0].line, 2);
        assert_eq!(
            content(&got.entries[0]),
            "p\"w\nuser: alice\nurl: https://mail.example\nPIN: 1234\nRecovery: x\n\
otpauth://totp/Inbox%2C%20main?secret=JBSWY3DPEHPK3PXP\ntwo\nlines\n"
        );
        assert_eq!(got.entries[1].name.as_str(), "Diary");
        assert_eq!(got.entries[1].line, 5);
        assert_eq!(content(&got.entries[1]), "\njust a note\n");
    }

    #[test]
    fn keepassxc_drops_the_root_group_and_the_recycle_bin() {
        let csv = "\"Group\",\"Title\",\"Username\",\"Password\",\"URL\",\"Notes\",\"TOTP\",\"Icon\",\"Last Modified\",\"Created\"\n\
\"Root/Email\",\"Mail\",\"bob\",\"pw\",\"\",\"\",\"otpauth://totp/Mail?secret=AB&issuer=X\",\"0\",\"\",\"\"\n\
\"Root/Recycle Bin\",\"Old\",\"bob\",\"pw\",\"\",\"\",\"\",\"0\",\"\",\"\"\n\
\"Root\",\"Top\",\"\",\"pw2\",\"\",\"\",\"\",\"0\",\"\",\"\"\n";
        let got = import(csv, CsvFormat::KeePassXc);
        assert_eq!(got.recycled, 1);
        let names: Vec<_> = got.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["Email/Mail", "Top"]);
        assert_eq!(
            content(&got.entries[0]),
            "pw\nuser: bob\notpauth://totp/Mail?secret=AB&issuer=X\n"
        );
        assert_eq!(content(&got.entries[1]), "pw2\n");
    }

    #[test]
    fn lastpass_nested_groups_and_secure_notes() {
        let csv = "url,username,password,totp,extra,name,grouping,fav\n\
http://sn,,,,\"NoteType:Server\nHostname:h\",srv,Ops\\Servers,0\n\
https://a.example,u,pw,,,a,,0\n\
https://a.example,u,pw,,,a,,0\n";
        let got = import(csv, CsvFormat::LastPass);
        let names: Vec<_> = got.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["Ops/Servers/srv", "a", "a-2"]);
        assert_eq!(content(&got.entries[0]), "\nNoteType:Server\nHostname:h\n");
    }

    #[test]
    fn malformed_rows_name_their_line_and_stop_everything() {
        let csv = "name,password\n\"a\nb\",x\nok,y\nbad\n\nalso,bad,row\n";
        let err = parse(csv.as_bytes(), CsvFormat::Generic).err().unwrap();
        let text = err.to_string();
        assert!(
            text.starts_with("line 5: the row has 1 fields where the header has 2"),
            "{text}"
        );
        assert!(text.contains("1 more malformed row"), "{text}");
        assert!(!text.contains("bad"), "no content in errors: {text}");
    }

    #[test]
    fn wrong_format_is_caught_by_its_header() {
        let err = parse(b"name,password\na,b\n", CsvFormat::Bitwarden)
            .err()
            .unwrap();
        assert!(matches!(err, CsvError::MissingColumn { .. }), "{err}");
        assert!(matches!(
            parse(b"", CsvFormat::Generic),
            Err(CsvError::Empty)
        ));
    }

    #[test]
    fn a_password_with_a_line_break_fails_alone() {
        let csv = "title,password\nfine,pw\nbroken,\"pw\nmore\"\n";
        let got = import(csv, CsvFormat::Generic);
        assert_eq!(got.entries.len(), 1);
        assert_eq!(got.failures.len(), 1);
        assert_eq!(got.failures[0].line, 3);
        assert!(!got.failures[0].reason.contains("more"));
    }

    #[test]
    fn a_totp_field_cut_inside_a_character_is_no_uri() {
        assert!(otpauth_line("otpauth:/\u{e9}x", "t").is_none());
    }

    #[test]
    fn seeds_and_uris() {
        let line = |t: &str| otpauth_line(t, "A b").map(|s| s.as_str().to_owned());
        assert_eq!(
            line("abcd efgh==").as_deref(),
            Some("otpauth://totp/A%20b?secret=ABCDEFGH")
        );
        assert_eq!(
            line("OTPAUTH://totp/x?secret=Z").as_deref(),
            Some("OTPAUTH://totp/x?secret=Z")
        );
        assert_eq!(line("steam://ABC"), None);
        assert_eq!(line("123456"), None);
        assert_eq!(line(""), None);
    }
}
