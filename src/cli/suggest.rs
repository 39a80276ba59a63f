//! "Did you mean": `coffer NAME` shows a secret, so a mistyped command (`coffer shwo x`)
//! would otherwise be taken for a secret's name. When the word names nothing in the store and
//! is close to a command, the user is told which command they probably meant.

use clap::CommandFactory;

use super::Cli;

/// The command (or alias) closest to `word`, if one is close enough to be a typo of it: at
/// most two edits (a swap of neighbours counts as one), and fewer than either word's length,
/// so that short words (`db`) are not taken for any short command (`rm`).
pub fn command_like(word: &str) -> Option<String> {
    let cmd = Cli::command();
    let names = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_owned())
        .chain(std::iter::once("help".to_owned()));
    let aliases = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .flat_map(|s| {
            s.get_visible_aliases()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        });
    let word_len = word.chars().count();
    names
        .chain(aliases)
        .map(|name| (edit_distance(word, &name), name))
        .filter(|(distance, name)| *distance <= 2 && *distance < word_len.min(name.chars().count()))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
/// neighbouring characters each cost one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_of_commands_are_recognised() {
        assert_eq!(command_like("shwo").as_deref(), Some("show"));
        assert_eq!(command_like("lst").as_deref(), Some("ls"));
        assert_eq!(command_like("genrate").as_deref(), Some("generate"));
        assert_eq!(command_like("recipient").as_deref(), Some("recipients"));
        assert_eq!(command_like("db"), None);
        assert_eq!(command_like("email/work"), None);
        assert_eq!(command_like("nothing-here"), None);
    }

    #[test]
    fn swaps_cost_one() {
        assert_eq!(edit_distance("shwo", "show"), 1);
        assert_eq!(edit_distance("", "ls"), 2);
        assert_eq!(edit_distance("lst", "ls"), 1);
    }
}
