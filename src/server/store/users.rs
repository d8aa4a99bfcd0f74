//! Dashboard accounts. Passwords arrive here already hashed (see `auth::password`).

use mongodb::bson::{self, doc, oid::ObjectId};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages accounts, and sees everything a supervisor sees.
    Admin,
    /// Watches conversations and customers.
    Supervisor,
}

impl Role {
    pub fn parse(text: &str) -> Result<Self, UserError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Self::Admin),
            "supervisor" => Ok(Self::Supervisor),
            other => Err(UserError::UnknownRole(other.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Supervisor => "supervisor",
        }
    }
}

/// A stored account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub email: String,
    pub role: Role,
    pub password_hash: String,
    pub created_at: bson::DateTime,
}

/// An account to create: the email is normalised, the password already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub role: Role,
    pub password_hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("'{0}' is not an email address")]
    InvalidEmail(String),
    #[error("unknown role '{0}': use admin or supervisor")]
    UnknownRole(String),
    #[error("the password must be at least 12 characters long")]
    PasswordTooShort,
    #[error("the password must be at most 128 characters long")]
    PasswordTooLong,
    #[error("a user with email {0} exists already (use --replace to reset it)")]
    Exists(String),
    #[error("could not hash the password: {0}")]
    Hash(String),
    #[error("cannot read the password from stdin: {0}")]
    Stdin(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Start(#[from] super::StartError),
}

/// Lower-cased, trimmed email; refuses anything without one `@` between non-empty parts.
pub fn normalise_email(text: &str) -> Result<String, UserError> {
    let email = text.trim().to_lowercase();
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.chars().any(char::is_whitespace) =>
        {
            Ok(email)
        }
        _ => Err(UserError::InvalidEmail(text.trim().to_owned())),
    }
}

/// Length rules for a new password (counted in characters).
pub fn check_password(password: &str) -> Result<(), UserError> {
    match password.chars().count() {
        n if n < 12 => Err(UserError::PasswordTooShort),
        n if n > 128 => Err(UserError::PasswordTooLong),
        _ => Ok(()),
    }
}

impl Store {
    /// Creates an account; with `replace`, an existing account of that email gets the new
    /// role and password instead.
    pub async fn add_user(&self, new: NewUser, replace: bool) -> Result<UserDoc, UserError> {
        let users = self.users();
        if let Some(existing) = self.user_by_email(&new.email).await? {
            if !replace {
                return Err(UserError::Exists(new.email));
            }
            users
                .update_one(
                    doc! { "_id": existing.id },
                    doc! { "$set": {
                        "role": new.role.as_str(),
                        "password_hash": &new.password_hash,
                    } },
                )
                .await
                .map_err(StoreError::from)?;
            return Ok(UserDoc {
                role: new.role,
                password_hash: new.password_hash,
                ..existing
            });
        }
        let user = UserDoc {
            id: ObjectId::new(),
            email: new.email,
            role: new.role,
            password_hash: new.password_hash,
            created_at: bson::DateTime::now(),
        };
        users.insert_one(&user).await.map_err(StoreError::from)?;
        Ok(user)
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserDoc>, StoreError> {
        Ok(self.users().find_one(doc! { "email": email }).await?)
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserDoc>, StoreError> {
        let Ok(id) = ObjectId::parse_str(id) else {
            return Ok(None);
        };
        Ok(self.users().find_one(doc! { "_id": id }).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalise_email(" Ann@Example.COM ").unwrap(),
            "ann@example.com"
        );
        for bad in ["", "ann", "@x", "ann@", "a@b@c", "a b@c"] {
            assert!(normalise_email(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn password_length_is_bounded() {
        assert!(matches!(
            check_password("short"),
            Err(UserError::PasswordTooShort)
        ));
        assert!(check_password("twelve chars").is_ok());
        assert!(matches!(
            check_password(&"x".repeat(129)),
            Err(UserError::PasswordTooLong)
        ));
    }

    #[test]
    fn roles_parse() {
        assert_eq!(Role::parse("Supervisor").unwrap(), Role::Supervisor);
        assert!(Role::parse("root").is_err());
    }
}
