//! The little JSON the harness writes (`--change`, `runc spec`) and reads (`runc state`).

pub fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn json_array(items: &[&str]) -> String {
    let items: Vec<String> = items.iter().map(|s| json_string(s)).collect();
    format!("[{}]", items.join(","))
}

/// The string value of `"key": "value"` in a JSON text (enough for `runc state`).
pub(super) fn json_field(json: &str, key: &str) -> Option<String> {
    let open = format!("\"{key}\": \"");
    let start = json.find(&open)? + open.len();
    let end = start + json[start..].find('"')?;
    Some(json[start..end].to_string())
}
