//! Which passwords an account may have (ASVS 5.0 V6.2): 12 to 128 characters, none of
//! the 10,000 most common (a vendored list, `common-passwords.txt`, compared without
//! regard to case), none containing the account's email local part or a word of this
//! service's context ([`CONTEXT_WORDS`], ASVS 6.1.2 / 6.2.11), and, in production,
//! never the demo password that `scripts/run` prints. Every path that sets a password (the
//! account page, the admin pages, the CLI, the first admin) asks [`check_new_password`];
//! sign-in asks [`refused_at_sign_in`]. Pure, so the rules are tested without a store.

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::server::store::UserError;

/// The password `scripts/run` gives its demo supervisor; refused in production.
pub const DEMO_PASSWORD: &str = "watch-the-chats-live";
pub const MIN_CHARS: usize = 12;
/// The longest password accepted: far beyond any passphrase, short of costing the hash.
pub const MAX_CHARS: usize = 128;

/// Words of this service's context, easy to guess in its passwords.
pub const CONTEXT_WORDS: [&str; 3] = ["billie", "supervisor", "dashboard"];

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
});

/// Whether `password` is the demo password where that is refused.
pub fn is_refused_demo(password: &str, production: bool) -> bool {
    production && password == DEMO_PASSWORD
}

/// Whether a sign-in with `password` is refused whatever the account: the demo password
/// in production.
pub fn refused_at_sign_in(password: &str, production: bool) -> bool {
    is_refused_demo(password, production)
}

/// Whether `password` may become the password of the account `email`.
pub fn check_new_password(password: &str, email: &str, production: bool) -> Result<(), UserError> {
    let length = password.chars().count();
    if length < MIN_CHARS {
        return Err(UserError::PasswordTooShort);
    }
    if length > MAX_CHARS {
        return Err(UserError::PasswordTooLong);
    }
    if is_refused_demo(password, production) {
        return Err(UserError::DemoPassword);
    }
    let lower = password.to_lowercase();
    if COMMON.contains(lower.as_str()) {
        return Err(UserError::CommonPassword);
    }
    let local = email
        .rsplit_once('@')
        .map_or(email, |(local, _)| local)
        .trim()
        .to_lowercase();
    if local.chars().count() >= 3 && lower.contains(&local) {
        return Err(UserError::ContainsEmail);
    }
    if CONTEXT_WORDS.iter().any(|word| lower.contains(word)) {
        return Err(UserError::ContextWord);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMAIL: &str = "jane.smith@billie.example";

    #[test]
    fn the_list_holds_ten_thousand_passwords() {
        assert_eq!(COMMON.len(), 10_000);
        assert!(COMMON.contains("password"));
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for common in ["1qaz2wsx3edc", "123QWEASDZXC", "Q1w2E3r4T5y6"] {
            assert!(
                matches!(
                    check_new_password(common, EMAIL, false),
                    Err(UserError::CommonPassword)
                ),
                "{common}"
            );
        }
        assert!(check_new_password("lantern orchard gravel", EMAIL, false).is_ok());
    }

    #[test]
    fn a_password_may_not_contain_the_email_local_part() {
        assert!(matches!(
            check_new_password("Jane.Smith-2026!", EMAIL, false),
            Err(UserError::ContainsEmail)
        ));
        // A local part too short to mean anything is not looked for.
        assert!(check_new_password("ab lantern orchard", "ab@x.example", false).is_ok());
    }

    #[test]
    fn a_password_may_not_contain_this_services_name() {
        assert!(matches!(
            check_new_password("my Billie password 7", "ann@x.example", false),
            Err(UserError::ContextWord)
        ));
    }

    #[test]
    fn length_and_the_demo_password() {
        assert!(matches!(
            check_new_password("short", EMAIL, false),
            Err(UserError::PasswordTooShort)
        ));
        assert!(matches!(
            check_new_password(&"x".repeat(129), EMAIL, false),
            Err(UserError::PasswordTooLong)
        ));
        assert!(check_new_password(DEMO_PASSWORD, EMAIL, false).is_ok());
        assert!(matches!(
            check_new_password(DEMO_PASSWORD, EMAIL, true),
            Err(UserError::DemoPassword)
        ));
        assert!(refused_at_sign_in(DEMO_PASSWORD, true));
        assert!(!refused_at_sign_in(DEMO_PASSWORD, false));
    }

    #[test]
    fn the_messages_say_what_to_do() {
        assert_eq!(
            UserError::CommonPassword.to_string(),
            "that password is one of the most common ones: choose another"
        );
        assert_eq!(
            UserError::ContainsEmail.to_string(),
            "the password must not contain the email address"
        );
    }
}
