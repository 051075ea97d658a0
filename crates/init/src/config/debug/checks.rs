//! Checks of the values that stay text: absolute directories (`dest`, `read`, `write`) and
//! environment variable names (`env`); the file's `[[plugin]]` tables use them too.

use std::path::Path;

pub(crate) fn check_absolute(path: &str) -> Result<(), String> {
    if Path::new(path).is_absolute() {
        Ok(())
    } else {
        Err("expected an absolute directory such as `/srv/data`".to_owned())
    }
}

pub(crate) fn check_env_name(name: &str) -> Result<(), String> {
    if !name.is_empty() && !name.contains(['=', '\0']) && !name.contains(char::is_whitespace) {
        Ok(())
    } else {
        Err("expected the name of an environment variable, e.g. `HOME`".to_owned())
    }
}
