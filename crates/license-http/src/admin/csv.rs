//! The little CSV the admin API speaks: quoting a field on the way out, splitting a line
//! (RFC 4180 quoting, no line breaks inside fields) on the way in.

/// One CSV field, quoted when it holds a comma, quote or line break.
pub fn field(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_owned()
    }
}

/// A field of free text someone typed (names, emails): as [`field`], but a value a spreadsheet
/// would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a carriage return) gets
/// a leading `'` (OWASP's advice against CSV injection). Numbers and ids go through [`field`].
pub fn text(v: &str) -> String {
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        field(&format!("'{v}"))
    } else {
        field(v)
    }
}

/// Splits one CSV line (RFC 4180 quoting, no line breaks inside fields).
pub fn split(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(split("a,\"b,c\",\"d \"\"e\"\"\""), ["a", "b,c", "d \"e\""]);
    }

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(
            text("=HYPERLINK(\"http://evil\")"),
            "\"'=HYPERLINK(\"\"http://evil\"\")\""
        );
        for v in ["+1+2", "-3", "@SUM(A1)", "\tx", "\rx"] {
            assert!(text(v).trim_start_matches('"').starts_with('\''), "{v:?}");
        }
        assert_eq!(
            text("ada@example.com"),
            "ada@example.com",
            "only a leading sign counts"
        );
        assert_eq!(field("-1"), "-1", "numbers stay numbers");
    }
}
