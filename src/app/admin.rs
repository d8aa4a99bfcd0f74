//! Admin pages: `/admin/users` (create accounts, disable or enable them, change roles,
//! reset passwords), `/admin/tokens` (API tokens) and `/admin/audit` (the audit log). The
//! guard keeps them for admins.

use leptos::prelude::*;
use leptos::server::ServerAction;

use super::account::outcome;
use super::format;
use crate::api::{
    AuditPage as AuditPageData, AuditView, CreateToken, CreateUser, ResetUserMfa,
    ResetUserPassword, RevokeToken, SetUserDisabled, SetUserRole, TokenView, UserView, audit_log,
    list_tokens, list_users,
};

#[component]
pub fn UsersPage() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let disable = ServerAction::<SetUserDisabled>::new();
    let role = ServerAction::<SetUserRole>::new();
    let reset = ServerAction::<ResetUserPassword>::new();
    let mfa = ServerAction::<ResetUserMfa>::new();
    let users = Resource::new(
        move || {
            (
                create.version().get(),
                disable.version().get(),
                role.version().get(),
                reset.version().get(),
                mfa.version().get(),
            )
        },
        |_| list_users(),
    );
    view! {
        <main class="page">
            <h1>"Users"</h1>
            <section class="panel" aria-labelledby="create-heading">
                <h2 id="create-heading">"Add a user"</h2>
                <ActionForm action=create attr:class="form inline">
                    <label for="new-email">"Email"</label>
                    <input id="new-email" name="email" type="email" required />
                    <label for="new-role">"Role"</label>
                    <select id="new-role" name="role">
                        <option value="supervisor">"Supervisor"</option>
                        <option value="admin">"Admin"</option>
                    </select>
                    <label for="new-password">"Password (12 to 128 characters)"</label>
                    <input
                        id="new-password"
                        name="password"
                        type="password"
                        autocomplete="new-password"
                        minlength="12"
                        maxlength="128"
                        required
                    />
                    <button type="submit">"Add user"</button>
                </ActionForm>
                {move || outcome(create.value().get(), "User added.")}
            </section>
            {move || outcome(disable.value().get(), "Saved.")}
            {move || outcome(role.value().get(), "Role changed.")}
            {move || outcome(reset.value().get(), "Password reset; their sessions have ended.")}
            {move || {
                outcome(mfa.value().get(), "Two-step sign-in reset; their sessions have ended.")
            }}
            <Transition fallback=|| view! { <p class="muted">"Loading users…"</p> }>
                {move || {
                    users
                        .get()
                        .map(|found| match found {
                            Ok(list) => {
                                view! {
                                    <table class="table" data-testid="users">
                                        <thead>
                                            <tr>
                                                <th scope="col">"Email"</th>
                                                <th scope="col">"Name"</th>
                                                <th scope="col">"Role"</th>
                                                <th scope="col">"Status"</th>
                                                <th scope="col">"New password"</th>
                                                <th scope="col">"Two-step"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {list
                                                .into_iter()
                                                .map(|u| view! { <UserRow user=u disable role reset mfa /> })
                                                .collect::<Vec<_>>()}
                                        </tbody>
                                    </table>
                                }
                                    .into_any()
                            }
                            Err(e) => super::load_failed("users", &e),
                        })
                }}
            </Transition>
        </main>
    }
}

#[component]
fn UserRow(
    user: UserView,
    disable: ServerAction<SetUserDisabled>,
    role: ServerAction<SetUserRole>,
    reset: ServerAction<ResetUserPassword>,
    mfa: ServerAction<ResetUserMfa>,
) -> impl IntoView {
    let u = user;
    let role_id = format!("role-{}", u.id);
    let password_id = format!("password-{}", u.id);
    let (toggle_label, toggle_value) = if u.disabled {
        ("Enable", "false")
    } else {
        ("Disable", "true")
    };
    let other_role = if u.role == crate::api::Role::Admin {
        "supervisor"
    } else {
        "admin"
    };
    let (id_role, id_disable, id_reset, id_mfa) =
        (u.id.clone(), u.id.clone(), u.id.clone(), u.id.clone());
    let mfa_on = u.mfa;
    let reset_label = format!("New password for {}", u.email);
    let (email, email_attr) = (u.email.clone(), u.email.clone());
    let name = u.name.clone().unwrap_or_default();
    let role_name = u.role.as_str();
    let disabled = u.disabled;
    view! {
        <tr data-email=email_attr class:disabled=disabled>
            <td>{email}</td>
            <td>{name}</td>
            <td>
                <ActionForm action=role attr:class="form row">
                    <input type="hidden" name="id" value=id_role />
                    <input type="hidden" name="role" value=other_role />
                    <span id=role_id.clone()>{role_name}</span>
                    <button type="submit" aria-describedby=role_id>
                        {format!("Make {other_role}")}
                    </button>
                </ActionForm>
            </td>
            <td>
                <ActionForm action=disable attr:class="form row">
                    <input type="hidden" name="id" value=id_disable />
                    <input type="hidden" name="disabled" value=toggle_value />
                    <span class="user-status">{if disabled { "Disabled" } else { "Active" }}</span>
                    <button type="submit">{toggle_label}</button>
                </ActionForm>
            </td>
            <td>
                <ActionForm action=reset attr:class="form row">
                    <input type="hidden" name="id" value=id_reset />
                    <label class="visually-hidden" for=password_id.clone()>
                        {reset_label}
                    </label>
                    <input
                        id=password_id
                        name="password"
                        type="password"
                        autocomplete="new-password"
                        minlength="12"
                        maxlength="128"
                        required
                    />
                    <button type="submit">"Reset"</button>
                </ActionForm>
            </td>
            <td>
                {if mfa_on {
                    view! {
                        <ActionForm action=mfa attr:class="form row">
                            <input type="hidden" name="id" value=id_mfa />
                            <span>"On"</span>
                            <button type="submit">"Reset two-step"</button>
                        </ActionForm>
                    }
                        .into_any()
                } else {
                    view! { <span class="muted">"Off"</span> }.into_any()
                }}
            </td>
        </tr>
    }
}

#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_tokens(),
    );
    let created = move || {
        create.value().get().map(|r| match r {
            Ok(token) => view! {
                <div class="notice" role="status" data-testid="new-token">
                    <p>
                        {format!("Token \"{}\" created. Copy it now: it is not shown again.", token.name)}
                    </p>
                    <label for="new-token-text">"Token"</label>
                    <input id="new-token-text" class="mono" readonly value=token.text />
                </div>
            }
            .into_any(),
            Err(e) => view! { <p class="error" role="alert">{super::account::error_text(&e)}</p> }
                .into_any(),
        })
    };
    view! {
        <main class="page">
            <h1>"API tokens"</h1>
            <p class="muted">
                "Tokens let other systems read /api/v1 (see the README). A token reads what a supervisor sees; each read is in the audit log under the token's name."
            </p>
            <section class="panel" aria-labelledby="create-token-heading">
                <h2 id="create-token-heading">"Create a token"</h2>
                <ActionForm action=create attr:class="form inline">
                    <label for="token-name">"Who uses it"</label>
                    <input id="token-name" name="name" maxlength="80" required />
                    <button type="submit">"Create token"</button>
                </ActionForm>
                {created}
            </section>
            {move || outcome(revoke.value().get(), "Token revoked.")}
            <Transition fallback=|| view! { <p class="muted">"Loading tokens…"</p> }>
                {move || {
                    tokens
                        .get()
                        .map(|found| match found {
                            Ok(list) if list.is_empty() => {
                                view! { <p class="muted">"No tokens yet."</p> }.into_any()
                            }
                            Ok(list) => {
                                view! {
                                    <table class="table" data-testid="tokens">
                                        <thead>
                                            <tr>
                                                <th scope="col">"Name"</th>
                                                <th scope="col">"Created by"</th>
                                                <th scope="col">"Created"</th>
                                                <th scope="col">"Last used"</th>
                                                <th scope="col">"Status"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {list
                                                .into_iter()
                                                .map(|t| token_row(t, revoke))
                                                .collect::<Vec<_>>()}
                                        </tbody>
                                    </table>
                                }
                                    .into_any()
                            }
                            Err(e) => super::load_failed("the tokens", &e),
                        })
                }}
            </Transition>
        </main>
    }
}

fn token_row(t: TokenView, revoke: ServerAction<RevokeToken>) -> impl IntoView {
    let time = |ms: i64| view! { <time datetime=format::iso(ms)>{format::timestamp(ms)}</time> };
    let label = format!("Revoke {}", t.name);
    let (name, revoked) = (t.name.clone(), t.revoked_ms.is_some());
    view! {
        <tr data-token=name class:disabled=revoked>
            <td>{t.name}</td>
            <td>{t.created_by}</td>
            <td>{time(t.created_at_ms)}</td>
            <td>
                {match t.last_used_ms {
                    Some(ms) => time(ms).into_any(),
                    None => view! { <span class="muted">"Never"</span> }.into_any(),
                }}
            </td>
            <td>
                {match t.revoked_ms {
                    Some(ms) => view! { <span>"Revoked "</span> {time(ms)} }.into_any(),
                    None => {
                        view! {
                            <ActionForm action=revoke attr:class="form row">
                                <input type="hidden" name="id" value=t.id />
                                <span>"Active"</span>
                                <button type="submit" aria-label=label>"Revoke"</button>
                            </ActionForm>
                        }
                            .into_any()
                    }
                }}
            </td>
        </tr>
    }
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let first = Resource::new(|| (), |_| audit_log(None));
    view! {
        <main class="page">
            <h1>"Audit log"</h1>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    first
                        .get()
                        .map(|page| match page {
                            Ok(page) => view! { <AuditTable page /> }.into_any(),
                            Err(e) => super::load_failed("the audit log", &e),
                        })
                }}
            </Transition>
        </main>
    }
}

#[component]
fn AuditTable(page: AuditPageData) -> impl IntoView {
    let entries = RwSignal::new(page.items);
    let next = RwSignal::new(page.next);
    let older = move |_| {
        let Some(before) = next.get_untracked() else {
            return;
        };
        leptos::task::spawn_local(async move {
            if let Ok(page) = audit_log(Some(before)).await {
                entries.update(|e| e.extend(page.items));
                next.set(page.next);
            }
        });
    };
    view! {
        <table class="table" data-testid="audit">
            <thead>
                <tr>
                    <th scope="col">"Time"</th>
                    <th scope="col">"Who"</th>
                    <th scope="col">"Action"</th>
                    <th scope="col">"On"</th>
                    <th scope="col">"Address"</th>
                    <th scope="col">"Detail"</th>
                </tr>
            </thead>
            <tbody>{move || entries.get().into_iter().map(row).collect::<Vec<_>>()}</tbody>
        </table>
        <Show when=move || next.with(Option::is_some)>
            <button class="more" on:click=older>
                "Show older entries"
            </button>
        </Show>
    }
}

fn row(e: AuditView) -> impl IntoView {
    view! {
        <tr>
            <td>
                <time datetime=format::iso(e.at_ms)>{format::timestamp(e.at_ms)}</time>
            </td>
            <td>{e.actor.unwrap_or_default()}</td>
            <td class="mono">{e.action}</td>
            <td>{e.target.unwrap_or_default()}</td>
            <td class="mono">{e.address.unwrap_or_default()}</td>
            <td>{e.detail.unwrap_or_default()}</td>
        </tr>
    }
}
