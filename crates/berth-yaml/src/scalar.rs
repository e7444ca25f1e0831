//! Scalar resolution as kubectl does it.
//!
//! kubectl and Helm read YAML through `sigs.k8s.io/yaml`, which decodes with go-yaml v2 into
//! `interface{}` and then marshals to JSON. This module reproduces go-yaml v2's `resolve()` for
//! that path (YAML 1.1): plain `yes`/`no`/`on`/`off`/`y`/`n` are booleans, `0644` is octal,
//! `0x1F` hex, `1_000` an integer, `~`/`null`/empty are null. Quoted and block scalars are
//! strings unless a tag says otherwise. Timestamps stay strings (go-yaml v2 keeps the text when
//! decoding into `interface{}`). Infinity and NaN cannot be written as JSON, so kubectl rejects
//! them; so do we, with a message.

use serde_json::{Number, Value};

/// The core-schema tag a scalar carries, as far as resolution cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScalarTag {
    /// No tag: resolve plain scalars, keep quoted ones as strings.
    None,
    Str,
    Int,
    Float,
    Bool,
    Null,
    /// `!!binary`: base64, decoded to text.
    Binary,
    /// `!!timestamp`, the non-specific `!` and any custom tag: the text is kept
    /// as a string (go-yaml v2 does the same for `interface{}` targets).
    Text,
}

impl ScalarTag {
    fn name(self) -> &'static str {
        match self {
            ScalarTag::None | ScalarTag::Text | ScalarTag::Str => "!!str",
            ScalarTag::Binary => "!!binary",
            ScalarTag::Int => "!!int",
            ScalarTag::Float => "!!float",
            ScalarTag::Bool => "!!bool",
            ScalarTag::Null => "!!null",
        }
    }
}

/// What a plain scalar resolves to before JSON conversion.
#[derive(Clone, Debug, PartialEq)]
enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str,
}

impl Resolved {
    fn tag(&self) -> ScalarTag {
        match self {
            Resolved::Null => ScalarTag::Null,
            Resolved::Bool(_) => ScalarTag::Bool,
            Resolved::Int(_) | Resolved::Uint(_) => ScalarTag::Int,
            Resolved::Float(_) => ScalarTag::Float,
            Resolved::Str => ScalarTag::Str,
        }
    }
}

/// Resolve one scalar to a JSON value. `plain` is true for unquoted flow scalars (the only ones
/// whose type is guessed). The error is a message for the user.
pub(crate) fn resolve(text: &str, plain: bool, tag: ScalarTag) -> Result<Value, String> {
    if tag == ScalarTag::Binary {
        return decode_binary(text).map(Value::String);
    }
    to_json(text, resolve_tagged(text, plain, tag)?)
}

/// Resolve a scalar in key position to the key's text, as sigs.k8s.io/yaml turns go-yaml's
/// keys into JSON's: integers in decimal, floats the way Go formats a float32 (`1.5e+06`),
/// booleans as `true`/`false`. A null key and an integer beyond int64 (go-yaml's uint64) have
/// no text there: errors.
pub(crate) fn resolve_key(text: &str, plain: bool, tag: ScalarTag) -> Result<String, String> {
    Ok(match resolve_tagged(text, plain, tag)? {
        Resolved::Str => match tag {
            ScalarTag::Binary => decode_binary(text)?,
            _ => text.to_string(),
        },
        Resolved::Bool(b) => b.to_string(),
        Resolved::Int(i) => i.to_string(),
        Resolved::Uint(_) => {
            return Err(format!(
                "the key `{text}` is a number too large for kubectl (sigs.k8s.io/yaml refuses \
                 a uint64 key); quote it"
            ));
        }
        Resolved::Float(f) => go_float32_text(f),
        Resolved::Null => {
            return Err(
                "a mapping key is null (empty, `~` or `null`); quote it if it is text".to_string(),
            );
        }
    })
}

fn resolve_tagged(text: &str, plain: bool, tag: ScalarTag) -> Result<Resolved, String> {
    match tag {
        ScalarTag::Str | ScalarTag::Text | ScalarTag::Binary => return Ok(Resolved::Str),
        ScalarTag::None if !plain => return Ok(Resolved::Str),
        _ => {}
    }
    let resolved = resolve_plain(text);
    Ok(match (tag, resolved) {
        (ScalarTag::None, r) => r,
        (ScalarTag::Float, Resolved::Int(i)) => Resolved::Float(i as f64),
        (ScalarTag::Float, Resolved::Uint(u)) => Resolved::Float(u as f64),
        (want, r) if want == r.tag() => r,
        (want, r) => {
            return Err(format!(
                "cannot read `{text}` as {}: it reads as {}",
                want.name(),
                r.tag().name()
            ));
        }
    })
}

fn to_json(text: &str, r: Resolved) -> Result<Value, String> {
    Ok(match r {
        Resolved::Null => Value::Null,
        Resolved::Bool(b) => Value::Bool(b),
        Resolved::Int(i) => Value::Number(i.into()),
        Resolved::Uint(u) => Value::Number(u.into()),
        Resolved::Str => Value::String(text.to_string()),
        Resolved::Float(f) => float_value(f).ok_or_else(|| {
            format!(
                "`{text}` is {}, which JSON (and so Kubernetes) cannot represent; \
                 quote it if it is meant as text",
                if f.is_nan() {
                    "not a number"
                } else {
                    "infinite"
                }
            )
        })?,
    })
}

/// A float as JSON, as go-yaml and Go's `json.Marshal` send it: an integral float below 1e21
/// is printed without fraction or exponent, in its shortest digits padded with zeros (`1.0` as
/// `1`, `1e16` as `10000000000000000`, 2^63 as `9223372036854776000`), which the API server
/// reads as an integer when that text fits int64. So such a value becomes a JSON integer here
/// exactly when Go's text would be read as one.
pub(crate) fn float_value(f: f64) -> Option<Value> {
    if !f.is_finite() {
        return None;
    }
    if f.fract() == 0.0 && f.abs() < 1e21 {
        // `{:e}` is the shortest round-trip form: digits and an exponent.
        let e = format!("{f:e}");
        let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
        let exp: usize = exp.parse().unwrap_or(0);
        let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
        let (sign, digits) = match digits.strip_prefix('-') {
            Some(d) => ("-", d.to_string()),
            None => ("", digits),
        };
        let zeros = (exp + 1).saturating_sub(digits.len());
        if let Ok(i) = format!("{sign}{digits}{}", "0".repeat(zeros)).parse::<i64>() {
            return Some(Value::Number(i.into()));
        }
    }
    Number::from_f64(f).map(Value::Number)
}

/// A number of a JSON document, as the API server reads kubectl's JSON text: an integer
/// literal is an integer when it fits, anything else a float, kept as written (`1.0` stays a
/// float, unlike in YAML). `None` if the text is no JSON number.
pub(crate) fn json_number(text: &str) -> Option<Value> {
    let b = text.as_bytes();
    let digits_at = usize::from(b.first() == Some(&b'-'));
    if !b.get(digits_at).is_some_and(u8::is_ascii_digit)
        || !b.iter().all(|c| c.is_ascii_digit() || b"-+.eE".contains(c))
    {
        return None;
    }
    if !text.contains(['.', 'e', 'E']) {
        if let Ok(i) = text.parse::<i64>() {
            return Some(Value::Number(i.into()));
        }
        if let Ok(u) = text.parse::<u64>() {
            return Some(Value::Number(u.into()));
        }
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)`: the shortest text that reads back as the same
/// float32, in exponent form (`1e+06`, `1.2345679e+08`) when the exponent is below -4 or at
/// least 6, as Go's shortest `%g` does. Infinity and NaN as sigs.k8s.io/yaml writes them.
fn go_float32_text(f: f64) -> String {
    let f = f as f32;
    if f.is_nan() {
        return ".nan".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.to_string();
    }
    // Rust's `{:e}` is the shortest round-trip form too: `-1.2345679e8`.
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.abs());
    }
    // Fixed notation with the decimal point `exp + 1` digits in.
    let point = exp + 1;
    let text = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{text}")
}

/// `!!binary` as go-yaml v2 reads it: standard base64 (line breaks ignored), and the bytes as
/// text, each byte that is not UTF-8 becoming U+FFFD as Go's JSON encoder writes it.
fn decode_binary(text: &str) -> Result<String, String> {
    let bad = || "this `!!binary` value is not valid base64 (kubectl refuses it)".to_string();
    let input: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b'\r' | b'\n'))
        .collect();
    if !input.len().is_multiple_of(4) {
        return Err(bad());
    }
    let value = |b: u8| -> Option<u32> {
        Some(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut bytes = Vec::with_capacity(input.len() / 4 * 3);
    let quads = input.len() / 4;
    for (i, quad) in input.chunks(4).enumerate() {
        let pad = quad.iter().rev().take_while(|b| **b == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != quads) {
            return Err(bad());
        }
        let mut n = 0u32;
        for &b in &quad[..4 - pad] {
            n = (n << 6) | value(b).ok_or_else(bad)?;
        }
        n <<= 6 * pad as u32;
        let three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        bytes.extend_from_slice(&three[..3 - pad]);
    }
    let mut out = String::with_capacity(bytes.len());
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                out.push('\u{fffd}');
                rest = &bad[1..];
            }
        }
    }
    Ok(out)
}

/// go-yaml v2 `resolve()` for an untagged plain scalar.
fn resolve_plain(s: &str) -> Resolved {
    let Some(&first) = s.as_bytes().first() else {
        return Resolved::Null;
    };
    match first {
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => {
            lookup(s).unwrap_or(Resolved::Str)
        }
        b'.' => lookup(s)
            .or_else(|| yaml_float(s).map(Resolved::Float))
            .unwrap_or(Resolved::Str),
        b'+' | b'-' | b'0'..=b'9' => {
            if let Some(r) = lookup(s) {
                return r;
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if let Some(i) = go_parse_int(&plain) {
                return Resolved::Int(i);
            }
            if let Some(u) = go_parse_uint(&plain) {
                return Resolved::Uint(u);
            }
            if let Some(f) = yaml_float(&plain) {
                return Resolved::Float(f);
            }
            Resolved::Str
        }
        _ => Resolved::Str,
    }
}

/// go-yaml v2's table of special plain scalars.
fn lookup(s: &str) -> Option<Resolved> {
    Some(match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Resolved::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Resolved::Bool(false)
        }
        "" | "~" | "null" | "Null" | "NULL" => Resolved::Null,
        ".nan" | ".NaN" | ".NAN" => Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Resolved::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Resolved::Float(f64::NEG_INFINITY),
        _ => return None,
    })
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`, then parsed.
fn yaml_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return None;
        }
    } else {
        if digits(&mut i) == 0 {
            return None;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    // Go's ParseFloat refuses a literal beyond float64's range (go-yaml then keeps the text),
    // where Rust's parse gives infinity.
    s.parse().ok().filter(|f: &f64| f.is_finite())
}

/// Go's `strconv.ParseInt(s, 0, 64)` (underscores already removed): optional sign, then
/// `0x`/`0o`/`0b` prefixes or a leading `0` for octal.
fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let mag = go_parse_uint(rest)?;
    if neg {
        if mag <= i64::MAX as u64 + 1 {
            Some((-(mag as i128)) as i64)
        } else {
            None
        }
    } else {
        i64::try_from(mag).ok()
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)`: no sign allowed.
fn go_parse_uint(s: &str) -> Option<u64> {
    // Compare bytes: `s` may start with a multi-byte character (found by fuzzing).
    let lower = |p: &str| s.len() > 2 && s.as_bytes()[..2].eq_ignore_ascii_case(p.as_bytes());
    let (radix, digits) = if lower("0x") {
        (16, &s[2..])
    } else if lower("0o") {
        (8, &s[2..])
    } else if lower("0b") {
        (2, &s[2..])
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    // `from_str_radix` accepts a leading sign; Go does not after the prefix.
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plain(s: &str) -> Value {
        resolve(s, true, ScalarTag::None).unwrap()
    }

    #[test]
    fn yaml_11_booleans_like_go_yaml_v2() {
        for t in [
            "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE",
        ] {
            assert_eq!(plain(t), json!(true), "{t}");
        }
        for f in [
            "n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE",
        ] {
            assert_eq!(plain(f), json!(false), "{f}");
        }
        // Spellings go-yaml v2 does not know stay strings.
        for s in ["yEs", "oN", "tRUE", "nO"] {
            assert_eq!(plain(s), json!(s), "{s}");
        }
    }

    #[test]
    fn numbers_like_go_yaml_v2() {
        assert_eq!(plain("0644"), json!(420));
        assert_eq!(plain("0x1F"), json!(31));
        assert_eq!(plain("0o17"), json!(15));
        assert_eq!(plain("0b101"), json!(5));
        assert_eq!(plain("-0b101"), json!(-5));
        assert_eq!(plain("1_000"), json!(1000));
        assert_eq!(plain("+7"), json!(7));
        assert_eq!(plain("-12"), json!(-12));
        assert_eq!(plain("3"), json!(3));
        assert_eq!(plain("1.5"), json!(1.5));
        assert_eq!(plain("1.0"), json!(1));
        assert_eq!(plain("1e3"), json!(1000));
        assert_eq!(plain(".5"), json!(0.5));
        assert_eq!(plain("08"), json!(8)); // not octal: falls through to the float form
        assert_eq!(
            plain("18446744073709551615"),
            json!(18446744073709551615u64)
        );
        assert_eq!(plain("-9223372036854775808"), json!(i64::MIN));
    }

    #[test]
    fn strings_stay_strings() {
        for s in [
            "1:30",
            "2024-01-01",
            "1.2.3",
            "-",
            "0x",
            "+",
            "v1",
            "0xZZ",
            "1e",
            ".",
            "nan",
        ] {
            assert_eq!(plain(s), json!(s), "{s}");
        }
    }

    #[test]
    fn nulls() {
        for s in ["", "~", "null", "Null", "NULL"] {
            assert_eq!(plain(s), Value::Null, "{s}");
        }
        assert_eq!(plain("nULL"), json!("nULL"));
    }

    #[test]
    fn quoted_scalars_are_strings() {
        assert_eq!(
            resolve("yes", false, ScalarTag::None).unwrap(),
            json!("yes")
        );
        assert_eq!(
            resolve("0644", false, ScalarTag::None).unwrap(),
            json!("0644")
        );
    }

    #[test]
    fn tags_are_honoured() {
        assert_eq!(resolve("123", true, ScalarTag::Str).unwrap(), json!("123"));
        assert_eq!(resolve("42", false, ScalarTag::Int).unwrap(), json!(42));
        assert_eq!(resolve("2", true, ScalarTag::Float).unwrap(), json!(2));
        assert_eq!(resolve("yes", true, ScalarTag::Bool).unwrap(), json!(true));
        assert_eq!(resolve("~", true, ScalarTag::Null).unwrap(), Value::Null);
        assert_eq!(resolve("x", true, ScalarTag::Text).unwrap(), json!("x"));
        let e = resolve("abc", true, ScalarTag::Int).unwrap_err();
        assert!(e.contains("cannot read `abc` as !!int"), "{e}");
    }

    #[test]
    fn infinity_and_nan_are_errors() {
        for s in [".inf", "-.Inf", ".nan"] {
            let e = resolve(s, true, ScalarTag::None).unwrap_err();
            assert!(e.contains("cannot represent"), "{e}");
        }
        assert_eq!(
            resolve(".inf", false, ScalarTag::None).unwrap(),
            json!(".inf")
        );
    }
}
