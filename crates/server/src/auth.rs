//! Who a request is for: the owner, from an HS256 JWT (`sub`), or `dev` without auth.

use crate::error::ApiError;
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// How requests are authenticated.
#[derive(Clone)]
pub enum Auth {
    /// `--insecure-dev`: no auth, every request is owner `dev`.
    Dev,
    /// `--jwt-secret-file`: `Authorization: Bearer <JWT>`, HS256 with this secret.
    Jwt(Box<(DecodingKey, Validation)>),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::Dev => "Auth::Dev",
            Auth::Jwt(_) => "Auth::Jwt",
        })
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

/// The leeway on `exp` and `nbf`, in seconds.
pub const LEEWAY_S: u64 = 30;

impl Auth {
    /// HS256 with `file`'s bytes as the secret, less one trailing newline (`\n` or `\r\n`).
    ///
    /// # Errors
    /// When the secret is empty.
    pub fn jwt(file: &[u8]) -> Result<Self, String> {
        let secret = file
            .strip_suffix(b"\r\n")
            .or_else(|| file.strip_suffix(b"\n"))
            .unwrap_or(file);
        // Only HS256: a token saying `none` or any other algorithm is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_S;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        // `exp` is optional; `sub` is the owner.
        validation.set_required_spec_claims(&["sub"]);
        let key = DecodingKey::from_secret(secret).map_err(|e| format!("the secret: {e}"))?;
        Ok(Auth::Jwt(Box::new((key, validation))))
    }

    /// The owner of a request with this `Authorization` header.
    ///
    /// # Errors
    /// UNAUTHORIZED when the header is missing or not a valid token with a `sub`.
    pub fn owner(&self, authorization: Option<&[u8]>) -> Result<String, ApiError> {
        let (key, validation) = match self {
            Auth::Dev => return Ok("dev".to_owned()),
            Auth::Jwt(jwt) => (&jwt.0, &jwt.1),
        };
        let header = authorization.ok_or_else(|| {
            ApiError::Unauthorized("this server needs Authorization: Bearer <JWT>".into())
        })?;
        // The scheme's name is case-insensitive (RFC 9110).
        let token = std::str::from_utf8(header)
            .ok()
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| {
                ApiError::Unauthorized("the Authorization header is not Bearer <JWT>".into())
            })?;
        let data = decode::<Claims>(token, key, validation)
            .map_err(|e| ApiError::Unauthorized(format!("the token is not accepted: {e}")))?;
        if data.claims.sub.is_empty() {
            return Err(ApiError::Unauthorized("the token's sub is empty".into()));
        }
        Ok(data.claims.sub)
    }
}
