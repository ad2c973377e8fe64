//! Memory sizes on the command line, written as PostgreSQL writes them in its settings
//! (`512MB`, `4GB`, `65536kB`; a plain number is bytes; units are powers of 1024), and
//! the machine's memory that their defaults are shares of.

/// The bytes `text` names, or why it names none.
pub fn parse_memory_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let multiplier: usize = match unit.trim() {
        "" | "B" => 1,
        "kB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        other => {
            return Err(format!(
                "invalid unit \"{other}\" in \"{text}\": valid units are B, kB, MB, GB and TB"
            ));
        }
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|number| number.checked_mul(multiplier))
        .ok_or_else(|| format!("\"{text}\" is not a memory size such as 512MB or 4GB"))
}

/// The machine's physical memory in bytes, as Linux reports it in `/proc/meminfo`, or
/// `None` where it cannot be read.
pub fn physical_memory() -> Option<usize> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kilobytes: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kilobytes.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_with_postgresqls_units() {
        assert_eq!(parse_memory_size("512MB"), Ok(512 << 20));
        assert_eq!(parse_memory_size("4GB"), Ok(4 << 30));
        assert_eq!(parse_memory_size("64kB"), Ok(64 << 10));
        assert_eq!(parse_memory_size("1000"), Ok(1000));
        assert!(parse_memory_size("4 gigs").is_err());
        assert!(parse_memory_size("GB").is_err());
        assert!(parse_memory_size("99999999999TB").is_err());
    }

    #[test]
    fn the_machine_has_memory() {
        assert!(physical_memory().is_some_and(|bytes| bytes > 0));
    }
}
