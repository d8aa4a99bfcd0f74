//! A user's own account, the parts that are not server functions: uploading an avatar (a
//! multipart form, so it works without JavaScript) and serving it. An upload is accepted
//! only if its bytes are a well-formed PNG, JPEG or WebP header of sensible dimensions,
//! whatever the browser claims; it is served with the type found, `nosniff` and a CSP that
//! allows nothing, so an image can never run as a page.

use axum::{
    Extension,
    extract::{Multipart, Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};

use crate::server::auth::{Session, address::ClientAddress, audit_entry};
use crate::server::state::AppState;

/// Largest avatar accepted.
pub const MAX_AVATAR_BYTES: usize = 256 * 1024;
/// Largest width or height accepted.
const MAX_SIDE: u32 = 2048;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AvatarError {
    #[error("the image is larger than 256 KiB")]
    TooLarge,
    #[error("the file is not a PNG, JPEG or WebP image")]
    NotAnImage,
    #[error("the image is wider or taller than 2048 pixels")]
    TooBig,
    #[error("no image was sent")]
    Missing,
}

impl AvatarError {
    fn code(&self) -> &'static str {
        match self {
            Self::TooLarge => "avatar-too-large",
            Self::NotAnImage => "avatar-not-image",
            Self::TooBig => "avatar-dimensions",
            Self::Missing => "avatar-missing",
        }
    }
}

/// `POST /account/avatar` (multipart, field `avatar`).
pub async fn upload_avatar(
    State(state): State<AppState>,
    Extension(ClientAddress(client)): Extension<ClientAddress>,
    session: Session,
    mut form: Multipart,
) -> Response {
    let Some(user) = session.user else {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    let bytes = match read_avatar(&mut form).await {
        Ok(bytes) => bytes,
        Err(e) => return Redirect::to(&format!("/account?error={}", e.code())).into_response(),
    };
    let content_type = match image_type(&bytes) {
        Ok(t) => t,
        Err(e) => return Redirect::to(&format!("/account?error={}", e.code())).into_response(),
    };
    if let Err(e) = state.store.set_avatar(&user.id, content_type, bytes).await {
        tracing::error!(error = %e, "avatar not stored");
        return Redirect::to("/account?error=unavailable").into_response();
    }
    state
        .store
        .audit(audit_entry(
            Some(&user.email),
            "self.avatar",
            None,
            Some(client),
        ))
        .await;
    Redirect::to("/account?saved=avatar").into_response()
}

async fn read_avatar(form: &mut Multipart) -> Result<Vec<u8>, AvatarError> {
    while let Ok(Some(mut field)) = form.next_field().await {
        if field.name() != Some("avatar") {
            continue;
        }
        let mut bytes = Vec::new();
        while let Ok(Some(chunk)) = field.chunk().await {
            if bytes.len() + chunk.len() > MAX_AVATAR_BYTES {
                return Err(AvatarError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        return if bytes.is_empty() {
            Err(AvatarError::Missing)
        } else {
            Ok(bytes)
        };
    }
    Err(AvatarError::Missing)
}

/// `GET /avatars/{id}`: a user's avatar, for signed-in users.
pub async fn avatar(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.store.avatar(&id).await {
        Ok(Some((content_type, bytes))) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; sandbox".to_owned(),
                ),
                (header::CACHE_CONTROL, "private, max-age=86400".to_owned()),
            ],
            bytes,
        )
            .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "avatar not read");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// The image's media type, if `bytes` start as a PNG, JPEG or WebP of allowed size.
pub fn image_type(bytes: &[u8]) -> Result<&'static str, AvatarError> {
    if bytes.len() > MAX_AVATAR_BYTES {
        return Err(AvatarError::TooLarge);
    }
    let (kind, size) = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        ("image/png", png_size(bytes))
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        ("image/jpeg", jpeg_size(bytes))
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        ("image/webp", webp_size(bytes))
    } else {
        return Err(AvatarError::NotAnImage);
    };
    let (width, height) = size.ok_or(AvatarError::NotAnImage)?;
    if width == 0 || height == 0 {
        return Err(AvatarError::NotAnImage);
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(AvatarError::TooBig);
    }
    Ok(kind)
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes(
        b.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn le16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_le_bytes(
        b.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 3)?;
    Some(u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
}

/// Width and height from the IHDR chunk, which must come first.
fn png_size(b: &[u8]) -> Option<(u32, u32)> {
    (b.get(12..16)? == b"IHDR").then_some(())?;
    Some((be32(b, 16)?, be32(b, 20)?))
}

/// Width and height from the first start-of-frame marker.
fn jpeg_size(b: &[u8]) -> Option<(u32, u32)> {
    let mut at = 2;
    loop {
        if *b.get(at)? != 0xFF {
            return None;
        }
        let marker = *b.get(at + 1)?;
        let len = be16(b, at + 2)? as usize;
        let is_frame = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_frame {
            return Some((be16(b, at + 7)?, be16(b, at + 5)?));
        }
        at += 2 + len;
    }
}

/// Width and height from the VP8, VP8L or VP8X chunk.
fn webp_size(b: &[u8]) -> Option<(u32, u32)> {
    match b.get(12..16)? {
        b"VP8 " => {
            (b.get(23..26)? == [0x9D, 0x01, 0x2A]).then_some(())?;
            Some((le16(b, 26)? & 0x3FFF, le16(b, 28)? & 0x3FFF))
        }
        b"VP8L" => {
            (*b.get(20)? == 0x2F).then_some(())?;
            let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
            Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        b"VP8X" => Some((le24(b, 24)? + 1, le24(b, 27)? + 1)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend_from_slice(&width.to_be_bytes());
        b.extend_from_slice(&height.to_be_bytes());
        b.extend_from_slice(&[8, 6, 0, 0, 0]);
        b
    }

    #[test]
    fn accepts_real_image_headers_only() {
        assert_eq!(image_type(&png(64, 64)), Ok("image/png"));
        assert_eq!(image_type(&png(4096, 64)), Err(AvatarError::TooBig));
        assert_eq!(image_type(&png(0, 64)), Err(AvatarError::NotAnImage));
        assert_eq!(
            image_type(b"<svg onload=alert(1)>"),
            Err(AvatarError::NotAnImage)
        );
        assert_eq!(
            image_type(b"\x89PNG\r\n\x1a\n"),
            Err(AvatarError::NotAnImage)
        );
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0];
        jpeg.extend_from_slice(&[0xFF, 0xC0, 0, 17, 8, 0, 32, 0, 48]);
        assert_eq!(image_type(&jpeg), Ok("image/jpeg"));
        let mut webp = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
        webp.extend_from_slice(&[63, 0, 0, 31, 0, 0]);
        assert_eq!(image_type(&webp), Ok("image/webp"));
        assert_eq!(
            image_type(&vec![0; MAX_AVATAR_BYTES + 1]),
            Err(AvatarError::TooLarge)
        );
    }
}
