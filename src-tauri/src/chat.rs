//! Chat notifications in the app: each stack's webhook lives in the keychain
//! (and, while the app runs, in memory for the notifier); the notifier hears
//! every pipeline event and looks names, releases and error lines up here.

use std::sync::{Arc, OnceLock, Weak};

use stageline_chat::{
    ChatFacts, ChatNotifier, HttpSender, NotifierOptions, StageFacts, Webhook, Webhooks,
};
use stageline_engine::flow::Input;
use stageline_engine::ports::BoxFuture;
use stageline_engine::{PartKind, Release, ReleaseId, RunId, StageId};

use crate::core::Core;

/// The chat notifier and what the chat commands share with it.
pub struct Chat {
    pub webhooks: Webhooks,
    pub sender: Arc<HttpSender>,
    pub notifier: ChatNotifier,
    core: Arc<OnceLock<Weak<Core>>>,
}

/// The core, once it has started (events before it are not chat-worthy).
struct CoreFacts(Arc<OnceLock<Weak<Core>>>);

impl CoreFacts {
    fn core(&self) -> Option<Arc<Core>> {
        self.0.get()?.upgrade()
    }
}

impl ChatFacts for CoreFacts {
    fn stage(&self, stage: StageId) -> BoxFuture<'_, Option<StageFacts>> {
        Box::pin(async move {
            let core = self.core()?;
            core.pipeline
                .read(move |s| {
                    let stage = s.stage(stage)?;
                    Some(StageFacts {
                        stack_id: stage.stack_id,
                        stack: s.stack(stage.stack_id)?.name.clone(),
                        stage: stage.settings.name.clone(),
                        url: s.service(stage.id).url,
                    })
                })
                .await
                .ok()
                .flatten()
        })
    }

    fn release(&self, release: ReleaseId) -> BoxFuture<'_, Option<Release>> {
        Box::pin(async move {
            let core = self.core()?;
            if let Ok(Some(live)) = core
                .pipeline
                .read(move |s| s.release(release).cloned())
                .await
            {
                return Some(live);
            }
            core.store.release(release).await.ok().flatten()
        })
    }

    fn first_error_line(&self, run: RunId, part: PartKind) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move {
            let core = self.core()?;
            let files = core.logs.files(run, part).ok()?;
            let errors = tokio::task::spawn_blocking(move || crate::logs::read::errors(&files, 1))
                .await
                .ok()?
                .ok()?;
            let line = errors.lines.into_iter().next()?;
            Some(crate::logs::text::plain_text(&line.text))
        })
    }
}

impl Chat {
    /// Starts the notifier (inside the async runtime); it sends nothing until [`Chat::attach`].
    pub fn start() -> Chat {
        let core: Arc<OnceLock<Weak<Core>>> = Arc::default();
        let webhooks = Webhooks::default();
        let sender = Arc::new(HttpSender::default());
        let warning_core = core.clone();
        let notifier = ChatNotifier::start(
            Arc::new(CoreFacts(core.clone())),
            webhooks.clone(),
            sender.clone(),
            Arc::new(move |stack_id, message| {
                if let Some(core) = warning_core.get().and_then(Weak::upgrade) {
                    core.pipeline
                        .notify(Input::ChatWarning { stack_id, message });
                }
            }),
            NotifierOptions::default(),
        );
        Chat {
            webhooks,
            sender,
            notifier,
            core,
        }
    }

    /// Connects the notifier to the started core and reads the stacks'
    /// webhooks from the keychain (in the background).
    pub fn attach(&self, core: &Arc<Core>) {
        let _ = self.core.set(Arc::downgrade(core));
        let core = core.clone();
        let webhooks = self.webhooks.clone();
        tokio::spawn(async move {
            let stacks = core
                .pipeline
                .read(|s| s.stacks().map(|st| st.id).collect::<Vec<_>>())
                .await
                .unwrap_or_default();
            for stack in stacks {
                if let Ok(value) = core
                    .keychain
                    .get(&stageline_engine::keychain_names::chat_webhook(stack))
                    .await
                {
                    webhooks.set(stack, Webhook::from_keychain_value(&value));
                }
            }
        });
    }
}
