//! `ketacare user add NAME --role ROLE`: creates an account from the console (the first admin, or
//! any account without going through the API). The password is read from standard input with
//! `--password-stdin`, or else generated and printed once. `ketacare user reset-password NAME` gives an
//! account a new one-time password (printed once) and ends its sessions and tokens: the way back in when
//! the only admin's password is lost.

use std::io::BufRead as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use ketacare_app::{NewAccount, Role};

use crate::server_args::{DatabaseArgs, open_app, runtime};

#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account.
    Add(AddArgs),
    /// Give an account a new one-time password (printed once; it must be changed at the next login).
    ResetPassword(ResetPasswordArgs),
}

#[derive(Debug, Args)]
struct ResetPasswordArgs {
    /// The login name.
    username: String,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    Prescriber,
    Nurse,
    Analyst,
    Auditor,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Prescriber => Role::Prescriber,
            RoleArg::Nurse => Role::Nurse,
            RoleArg::Analyst => Role::Analyst,
            RoleArg::Auditor => Role::Auditor,
        }
    }
}

#[derive(Debug, Args)]
struct AddArgs {
    /// The login name.
    username: String,
    #[arg(long, value_enum)]
    role: RoleArg,
    /// Read the password (one line, at least 12 characters) from standard input.
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    database: DatabaseArgs,
}

pub fn run(args: UserArgs) -> anyhow::Result<ExitCode> {
    let add = match args.command {
        UserCommand::Add(add) => add,
        UserCommand::ResetPassword(reset) => return reset_password(reset),
    };
    let password = if add.password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
        Some(line.trim_end_matches(['\r', '\n']).to_owned())
    } else {
        None
    };
    runtime()?.block_on(async {
        let app = open_app(&add.database, None).await?;
        let role = Role::from(add.role);
        match password {
            Some(password) => {
                let account =
                    NewAccount { username: add.username.clone(), password, role, must_change_password: false };
                app.create_user(None, &account).await?;
                println!("created {} ({})", add.username, role.as_str());
            }
            None => {
                let password = app.bootstrap_password();
                // Printed on a console: it must be changed at first login.
                let account = NewAccount {
                    username: add.username.clone(),
                    password: password.clone(),
                    role,
                    must_change_password: true,
                };
                app.create_user(None, &account).await?;
                println!("created {} ({}) with the one-time password: {password}", add.username, role.as_str());
            }
        }
        app.close().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn reset_password(args: ResetPasswordArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let app = open_app(&args.database, None).await?;
        let Some(user_id) = app.user_id_of(&args.username).await? else {
            app.close().await;
            anyhow::bail!("no account named {}", args.username);
        };
        let password = app.reset_password(None, &user_id).await?;
        println!("{}: new one-time password (change it at the next login): {password}", args.username);
        app.close().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
