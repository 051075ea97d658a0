//! The words of a DEBUG value: split at commas and trimmed, empty ones skipped (and counted, for
//! a value glued back together), each `name` or `name=value` split at the first `=`.

/// One word that is not empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Token<'a> {
    /// The whole word, trimmed.
    pub text: &'a str,
    /// The part before the first `=`, trimmed.
    pub name: &'a str,
    /// The part after it, trimmed; `None` without a `=`.
    pub value: Option<&'a str>,
    /// Empty words right before this one (a glued value keeps them: `a,,b`).
    pub empties_before: usize,
}

pub(super) fn tokens(value: &str) -> impl Iterator<Item = Token<'_>> {
    let mut empties = 0;
    value.split(',').filter_map(move |raw| {
        let text = raw.trim();
        if text.is_empty() {
            empties += 1;
            return None;
        }
        let (name, value) = match text.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim())),
            None => (text, None),
        };
        Some(Token {
            text,
            name,
            value,
            empties_before: std::mem::take(&mut empties),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn words_split_at_commas_and_their_first_equals_sign() {
        let all: Vec<Token> = tokens(" a , b = c=d ,,, e=").collect();
        let word = |text, name, value, empties_before| Token {
            text,
            name,
            value,
            empties_before,
        };
        assert_eq!(
            all,
            [
                word("a", "a", None, 0),
                word("b = c=d", "b", Some("c=d"), 0),
                word("e=", "e", Some(""), 2),
            ]
        );
        assert_eq!(tokens(" , ,").count(), 0);
    }

    #[test]
    fn whitespace_and_empty_words() {
        assert_eq!(
            opts(" verbose ,, stayalive ,"),
            vec![
                DebugOption::Verbose,
                DebugOption::StayAlive(StayAlive::default())
            ]
        );
        assert_eq!(
            opts("fstree = /x.tgz , strip = 2"),
            vec![fstree(&[("source", "/x.tgz"), ("strip", "2")])]
        );
    }

    #[test]
    fn value_keeps_later_equals_and_query() {
        let options = opts("fstree=https://h/x.tgz?a=1&b=2#frag=3");
        assert_eq!(fstree_source(&options), "https://h/x.tgz?a=1&b=2#frag=3");
    }
}
