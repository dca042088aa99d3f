//! The password hashes of htpasswd lines, as Traefik's basicAuth checks them.

use base64::Engine;
use md5::{Digest, Md5};
use sha1::Sha1;

/// The characters MD5-crypt encodes its digest with.
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The order MD5-crypt takes the final digest's bytes in, three at a time.
const MD5_CRYPT_SWAPS: [usize; 16] = [12, 6, 0, 13, 7, 1, 14, 8, 2, 15, 9, 3, 5, 10, 4, 11];

/// One user's stored secret, its scheme decided once from its prefix: bcrypt (`$2a$`, `$2b$`,
/// `$2x$`, `$2y$`), `{SHA}` (base64 of SHA-1), and MD5-crypt for anything else of the shape
/// `$magic$salt$hash` (`$apr1$`, `$1$`); other strings match no password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// `$2a$`, `$2b$`, `$2x$` or `$2y$` bcrypt (the three are checked alike, as Go does).
    Bcrypt(String),
    /// `{SHA}` followed by what is compared with base64(SHA-1(password)).
    Sha1(Vec<u8>),
    /// `$magic$salt$...`: compared whole with MD5-crypt of the password under that magic and salt.
    Md5Crypt {
        /// The whole stored string.
        stored: Vec<u8>,
        /// `$apr1$`, `$1$`...
        magic: Vec<u8>,
        /// The salt as written (not cut to 8 characters).
        salt: Vec<u8>,
    },
    /// A string of no known shape: no password matches it.
    Never,
}

impl Secret {
    /// The scheme of `stored`, picked by prefix as Traefik's htpasswd check picks it.
    pub fn parse(stored: &str) -> Secret {
        if let Some(rest) = stored.strip_prefix("{SHA}") {
            return Secret::Sha1(rest.as_bytes().to_vec());
        }
        if ["$2a$", "$2b$", "$2x$", "$2y$"]
            .iter()
            .any(|prefix| stored.starts_with(prefix))
        {
            return Secret::Bcrypt(stored.to_string());
        }
        let parts: Vec<&[u8]> = stored.as_bytes().splitn(4, |&b| b == b'$').collect();
        if parts.len() != 4 {
            return Secret::Never;
        }
        let mut magic = Vec::with_capacity(parts[1].len() + 2);
        magic.push(b'$');
        magic.extend_from_slice(parts[1]);
        magic.push(b'$');
        Secret::Md5Crypt {
            stored: stored.as_bytes().to_vec(),
            magic,
            salt: parts[2].to_vec(),
        }
    }

    /// Whether checking a password costs enough to be done off the request threads.
    pub fn is_expensive(&self) -> bool {
        matches!(self, Secret::Bcrypt(_) | Secret::Md5Crypt { .. })
    }

    /// Whether `password` matches.
    pub fn verify(&self, password: &[u8]) -> bool {
        match self {
            Secret::Bcrypt(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            Secret::Sha1(expected) => {
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(Sha1::digest(password));
                constant_time_eq(expected, encoded.as_bytes())
            }
            Secret::Md5Crypt {
                stored,
                magic,
                salt,
            } => constant_time_eq(stored, &md5_crypt(password, salt, magic)),
            Secret::Never => false,
        }
    }
}

/// Equality whose time depends on the lengths only.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// MD5-crypt (Poul-Henning Kamp's, with Apache's `$apr1$` as just another magic):
/// `magic salt $ digest`.
pub fn md5_crypt(password: &[u8], salt: &[u8], magic: &[u8]) -> Vec<u8> {
    let mut outer = Md5::new();
    outer.update(password);
    outer.update(magic);
    outer.update(salt);

    let alternate = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();
    for i in 0..password.len() {
        outer.update([alternate[i % 16]]);
    }
    let mut i = password.len();
    while i != 0 {
        if i & 1 == 0 {
            outer.update([password[0]]);
        } else {
            outer.update([0u8]);
        }
        i >>= 1;
    }
    let mut last = outer.finalize();

    for round in 0..1000 {
        let mut inner = Md5::new();
        if round & 1 == 0 {
            inner.update(last);
        } else {
            inner.update(password);
        }
        if round % 3 != 0 {
            inner.update(salt);
        }
        if round % 7 != 0 {
            inner.update(password);
        }
        if round & 1 == 0 {
            inner.update(password);
        } else {
            inner.update(last);
        }
        last = inner.finalize();
    }

    let mut out = Vec::with_capacity(magic.len() + salt.len() + 23);
    out.extend_from_slice(magic);
    out.extend_from_slice(salt);
    out.push(b'$');
    let mut value: u32 = 0;
    let mut bits: u32 = 0;
    for &index in &MD5_CRYPT_SWAPS {
        value |= u32::from(last[index]) << bits;
        bits += 8;
        while bits > 6 {
            out.push(ITOA64[(value & 0x3f) as usize]);
            value >>= 6;
            bits -= 6;
        }
    }
    out.push(ITOA64[(value & 0x3f) as usize]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known vectors: `htpasswd -nbB -C 5`, `-nbm`, `-nbs` (apache2-utils), `openssl passwd -1`.
    const BCRYPT_2Y: &str = "$2y$05$cswz2Iu0LUBR1WNyeRCtpuYy2oVr/9YxRQfMQkDaM/qxB1XmWY9hC";
    const BCRYPT_2A: &str = "$2a$05$cswz2Iu0LUBR1WNyeRCtpuYy2oVr/9YxRQfMQkDaM/qxB1XmWY9hC";
    const BCRYPT_2X: &str = "$2x$05$cswz2Iu0LUBR1WNyeRCtpuYy2oVr/9YxRQfMQkDaM/qxB1XmWY9hC";
    const BCRYPT_2B: &str = "$2b$05$cswz2Iu0LUBR1WNyeRCtpuYy2oVr/9YxRQfMQkDaM/qxB1XmWY9hC";
    const APR1: &str = "$apr1$zWDQC326$VMEh4obEk.NC7t0oWqkkw0";
    const MD5_CRYPT: &str = "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/";
    const SHA: &str = "{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=";

    #[test]
    fn bcrypt_in_each_prefix() {
        for hash in [BCRYPT_2Y, BCRYPT_2A, BCRYPT_2B, BCRYPT_2X] {
            let secret = Secret::parse(hash);
            assert!(matches!(secret, Secret::Bcrypt(_)), "{hash}");
            assert!(secret.is_expensive());
            assert!(secret.verify(b"test"), "{hash}");
            assert!(!secret.verify(b"Test"), "{hash}");
            assert!(!secret.verify(b""), "{hash}");
        }
        assert!(!Secret::parse("$2y$05$short").verify(b"test"));
    }

    #[test]
    fn apr1_and_md5_crypt() {
        let apr1 = Secret::parse(APR1);
        assert!(apr1.verify(b"test"));
        assert!(!apr1.verify(b"test2"));
        let md5 = Secret::parse(MD5_CRYPT);
        assert!(md5.verify(b"password"));
        assert!(!md5.verify(b"passwore"));
        assert_eq!(
            md5_crypt(b"test", b"zWDQC326", b"$apr1$"),
            APR1.as_bytes(),
            "the whole string is rebuilt"
        );
    }

    #[test]
    fn sha1_in_base64() {
        let secret = Secret::parse(SHA);
        assert!(!secret.is_expensive());
        assert!(secret.verify(b"test"));
        assert!(!secret.verify(b"tesT"));
    }

    #[test]
    fn plain_text_and_other_shapes_match_nothing() {
        assert_eq!(Secret::parse("test"), Secret::Never);
        assert!(!Secret::parse("test").verify(b"test"));
        assert!(!Secret::parse("$x$y").verify(b"test"));
        // Four `$` parts, so MD5-crypt, which cannot rebuild a leading "abc".
        assert!(!Secret::parse("abc$apr1$zWDQC326$VMEh4obEk.NC7t0oWqkkw0").verify(b"test"));
    }
}
