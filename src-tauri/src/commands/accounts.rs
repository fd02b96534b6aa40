//! Accounts.

use stageline_engine::{Account, AccountId};

use crate::commands::CoreState;
use crate::error::AppResult;
use crate::inputs::NewAccount;
use crate::services::accounts;

#[tauri::command]
pub async fn list_accounts(core: CoreState<'_>) -> AppResult<Vec<Account>> {
    accounts::list(&core).await
}

#[tauri::command]
pub async fn create_account(core: CoreState<'_>, input: NewAccount) -> AppResult<Account> {
    accounts::create(&core, input).await
}

#[tauri::command]
pub async fn delete_account(core: CoreState<'_>, id: AccountId) -> AppResult<()> {
    accounts::delete(&core, id).await
}

#[tauri::command]
pub async fn check_account(core: CoreState<'_>, id: AccountId) -> AppResult<()> {
    accounts::check_readable(&core, id).await
}
