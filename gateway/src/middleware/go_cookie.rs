//! A `Set-Cookie` line as Go's `net/http` reads it (`ParseSetCookie`) and writes it back
//! (`Cookie.String()`), for the middlewares that rewrite response cookies as Traefik does.

/// A parsed `Set-Cookie`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    /// The cookie's name.
    pub name: String,
    value: String,
    quoted: bool,
    path: String,
    domain: String,
    /// Seconds since the Unix epoch, when `Expires` parsed.
    expires: Option<i64>,
    /// Go's `MaxAge`: 0 unset, -1 for `Max-Age` of 0 or less.
    max_age: i64,
    http_only: bool,
    secure: bool,
    same_site: Option<&'static str>,
    partitioned: bool,
}

/// Go's `textproto.TrimString`.
fn trim(text: &str) -> &str {
    text.trim_matches([' ', '\t', '\n', '\r'])
}

/// An RFC 7230 token.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn valid_value_byte(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b'"' && b != b';' && b != b'\\'
}

/// Go's `parseCookieValue`: the value without its quotes, whether it had them.
fn cookie_value(raw: &str, allow_quotes: bool) -> Option<(&str, bool)> {
    let (raw, quoted) = match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) if allow_quotes && raw.len() > 1 => (inner, true),
        _ => (raw, false),
    };
    raw.bytes().all(valid_value_byte).then_some((raw, quoted))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// `Mon, 02 Jan 2006 15:04:05 MST` or `Mon, 02-Jan-2006 15:04:05 MST` (the zone read as UTC,
/// as Go does for an abbreviation it does not know).
fn parse_expires(text: &str) -> Option<i64> {
    let (weekday, rest) = text.split_once(", ")?;
    WEEKDAYS.contains(&weekday).then_some(())?;
    let (date, rest) = rest
        .split_once(' ')
        .filter(|(d, _)| d.contains('-'))
        .map_or_else(
            || {
                let mut parts = rest.splitn(4, ' ');
                let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
                Some(((d, m, y), parts.next()?))
            },
            |(date, rest)| {
                let mut parts = date.split('-');
                Some(((parts.next()?, parts.next()?, parts.next()?), rest))
            },
        )?;
    let (day, month, year) = date;
    let (time, zone) = rest.split_once(' ')?;
    if day.len() != 2 || year.len() != 4 || zone.is_empty() {
        return None;
    }
    let number = |t: &str| {
        t.parse::<i64>()
            .ok()
            .filter(|_| t.bytes().all(|b| b.is_ascii_digit()))
    };
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let (day, year) = (number(day)?, number(year)?);
    let mut clock = time.split(':');
    let (h, m, s) = (clock.next()?, clock.next()?, clock.next()?);
    if [h, m, s].iter().any(|p| p.len() != 2) || clock.next().is_some() {
        return None;
    }
    let (h, m, s) = (number(h)?, number(m)?, number(s)?);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

/// Go's `http.TimeFormat`.
fn format_time(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = WEEKDAYS[(days + 3).rem_euclid(7) as usize];
    format!(
        "{weekday}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        MONTHS[(month - 1) as usize],
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

/// Go's `isCookieDomainName` or an IPv4 address.
fn valid_domain(domain: &str) -> bool {
    if domain.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    let name = domain.strip_prefix('.').unwrap_or(domain);
    if name.is_empty() || domain.len() > 255 {
        return false;
    }
    let mut letter = false;
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 || label.starts_with('-') || label.ends_with('-') {
            return false;
        }
        for b in label.bytes() {
            match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'_' => letter = true,
                b'0'..=b'9' | b'-' => {}
                _ => return false,
            }
        }
    }
    letter
}

impl SetCookie {
    /// Go's `http.ParseSetCookie`; `None` for a line Go skips.
    pub fn parse(line: &str) -> Option<SetCookie> {
        let mut parts = trim(line).split(';');
        let (name, value) = trim(parts.next()?).split_once('=')?;
        let name = trim(name);
        if !is_token(name) {
            return None;
        }
        let (value, quoted) = cookie_value(value, true)?;
        let mut cookie = SetCookie {
            name: name.to_string(),
            value: value.to_string(),
            quoted,
            path: String::new(),
            domain: String::new(),
            expires: None,
            max_age: 0,
            http_only: false,
            secure: false,
            same_site: None,
            partitioned: false,
        };
        for part in parts {
            let part = trim(part);
            if part.is_empty() || !part.is_ascii() {
                continue;
            }
            let (attribute, value) = part.split_once('=').unwrap_or((part, ""));
            let Some((value, _)) = cookie_value(value, false) else {
                continue;
            };
            match attribute.to_ascii_lowercase().as_str() {
                "samesite" => {
                    cookie.same_site = match value.to_ascii_lowercase().as_str() {
                        "lax" => Some("Lax"),
                        "strict" => Some("Strict"),
                        "none" => Some("None"),
                        _ => None,
                    }
                }
                "secure" => cookie.secure = true,
                "httponly" => cookie.http_only = true,
                "domain" => cookie.domain = value.to_string(),
                "max-age" => {
                    if let Ok(seconds) = value.parse::<i64>() {
                        if seconds == 0 || !value.starts_with('0') {
                            cookie.max_age = if seconds <= 0 { -1 } else { seconds };
                        }
                    }
                }
                "expires" => cookie.expires = parse_expires(value),
                "path" => cookie.path = value.to_string(),
                "partitioned" => cookie.partitioned = true,
                _ => {}
            }
        }
        Some(cookie)
    }

    /// Go's `Cookie.String()`.
    pub fn to_go_string(&self) -> String {
        let mut out = format!("{}=", self.name);
        let value: String = self
            .value
            .chars()
            .filter(|c| valid_value_byte(*c as u8))
            .collect();
        if self.quoted || value.contains([' ', ',']) {
            out.push_str(&format!("\"{value}\""));
        } else {
            out.push_str(&value);
        }
        if !self.path.is_empty() {
            let path: String = self
                .path
                .bytes()
                .filter(|b| (0x20..0x7f).contains(b) && *b != b';')
                .map(char::from)
                .collect();
            out.push_str("; Path=");
            out.push_str(&path);
        }
        if !self.domain.is_empty() && valid_domain(&self.domain) {
            out.push_str("; Domain=");
            out.push_str(self.domain.strip_prefix('.').unwrap_or(&self.domain));
        }
        // Go skips years before 1601 (RFC 6265).
        if let Some(expires) = self.expires.filter(|&e| e >= -11_644_473_600) {
            out.push_str("; Expires=");
            out.push_str(&format_time(expires));
        }
        match self.max_age {
            0 => {}
            age if age < 0 => out.push_str("; Max-Age=0"),
            age => out.push_str(&format!("; Max-Age={age}")),
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if self.secure {
            out.push_str("; Secure");
        }
        if let Some(same_site) = self.same_site {
            out.push_str("; SameSite=");
            out.push_str(same_site);
        }
        if self.partitioned {
            out.push_str("; Partitioned");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::SetCookie;

    fn go(line: &str) -> Option<String> {
        SetCookie::parse(line).map(|c| c.to_go_string())
    }

    #[test]
    fn cookies_print_back_as_go_prints_them() {
        assert_eq!(go("a=b").as_deref(), Some("a=b"));
        assert_eq!(
            go(" s=1; path=/x ; secure; HTTPONLY; samesite=lax; Domain=.example.com").as_deref(),
            Some("s=1; Path=/x; Domain=example.com; HttpOnly; Secure; SameSite=Lax")
        );
        assert_eq!(
            go("e=1; Expires=Wed, 21-Oct-2015 07:28:00 PST; Max-Age=0").as_deref(),
            Some("e=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Max-Age=0")
        );
        assert_eq!(
            go("e=1; expires=Thu, 01 Jan 2026 00:00:00 GMT; max-age=60; unknown=x").as_deref(),
            Some("e=1; Expires=Thu, 01 Jan 2026 00:00:00 GMT; Max-Age=60")
        );
        assert_eq!(go("q=\"v\"").as_deref(), Some("q=\"v\""));
        assert_eq!(go("m=1; Max-Age=010").as_deref(), Some("m=1"));
        assert_eq!(go("d=1; Domain=bad domain").as_deref(), Some("d=1"));
    }

    #[test]
    fn lines_go_skips_are_skipped() {
        assert_eq!(go("no-equals"), None);
        assert_eq!(go("bad name=1"), None);
        assert_eq!(go("a=b;c"), Some("a=b".into()));
        assert_eq!(go("a=b\\c"), None);
    }
}
