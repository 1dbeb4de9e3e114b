//! Command lines of the dev binaries: `--help` prints the usage and exits 0; an unknown flag,
//! a flag without its value or a stray argument prints why and the usage, and exits 2.

use std::collections::HashMap;

/// The parsed flags of one command line.
#[derive(Debug, Default)]
pub struct Args {
    values: HashMap<String, String>,
    positional: Vec<String>,
}

impl Args {
    /// Parses `std::env::args()` against `flags` (each takes one value), allowing at most
    /// `max_positional` positional arguments; exits on `--help` or a mistake.
    pub fn parse(usage: &str, flags: &[&str], max_positional: usize) -> Self {
        match Self::try_parse(std::env::args().skip(1), flags, max_positional) {
            Ok(Some(args)) => args,
            Ok(None) => {
                println!("{usage}");
                std::process::exit(0);
            }
            Err(why) => {
                eprintln!("error: {why}\n\n{usage}");
                std::process::exit(2);
            }
        }
    }

    /// `Ok(None)` when help was asked for.
    pub fn try_parse(
        raw: impl IntoIterator<Item = String>,
        flags: &[&str],
        max_positional: usize,
    ) -> Result<Option<Self>, String> {
        let mut args = Self::default();
        let mut raw = raw.into_iter();
        while let Some(arg) = raw.next() {
            if arg == "--help" || arg == "-h" {
                return Ok(None);
            }
            if arg.starts_with('-') {
                if !flags.contains(&arg.as_str()) {
                    return Err(format!("unknown option {arg}"));
                }
                let value = raw.next().ok_or_else(|| format!("{arg} needs a value"))?;
                args.values.insert(arg, value);
            } else if args.positional.len() < max_positional {
                args.positional.push(arg);
            } else {
                return Err(format!("unexpected argument {arg}"));
            }
        }
        Ok(Some(args))
    }

    pub fn value(&self, flag: &str) -> Option<&str> {
        self.values.get(flag).map(String::as_str)
    }

    pub fn positional(&self, i: usize) -> Option<&str> {
        self.positional.get(i).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        Args::try_parse(args.iter().map(|a| a.to_string()), &["--sub"], 1)
    }

    #[test]
    fn help_unknown_flags_and_missing_values_are_told_apart() {
        assert!(parse(&["--sub", "me", "--help"]).unwrap().is_none());
        assert_eq!(parse(&["--sup", "me"]).unwrap_err(), "unknown option --sup");
        assert_eq!(parse(&["--sub"]).unwrap_err(), "--sub needs a value");
        assert_eq!(parse(&["a", "b"]).unwrap_err(), "unexpected argument b");
        let ok = parse(&["fullsync", "--sub", "me"]).unwrap().unwrap();
        assert_eq!(
            (ok.value("--sub"), ok.positional(0)),
            (Some("me"), Some("fullsync"))
        );
    }
}
