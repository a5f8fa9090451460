// Every control asks for a reason in a dialog, then posts through the same API as the CLI.
import { post } from './api.js';
import { h, replace } from './dom.js';

const $ = (id) => document.getElementById(id);

/**
 * Open the reason dialog; on confirm POST `path` with `{ ...fields(), reason }`.
 * Errors (401, 403, 409, bad input) are shown in the dialog, which stays open.
 */
export function ask({ title, help, path, extra, fields = () => ({}), done }) {
  const dialog = $('confirm');
  const form = $('confirm-form');
  const reason = $('confirm-reason');
  const error = $('confirm-error');
  const ok = $('confirm-ok');
  $('confirm-title').textContent = title;
  $('confirm-help').textContent = help ?? '';
  replace($('confirm-extra'), extra ?? null);
  reason.value = '';
  error.hidden = true;
  ok.disabled = false;
  ok.dataset.path = path;

  const close = () => {
    form.onsubmit = null;
    $('confirm-cancel').onclick = null;
    if (dialog.open) dialog.close();
  };
  $('confirm-cancel').onclick = close;
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const why = reason.value.trim();
    if (!why) {
      error.textContent = 'A reason is required: it goes in the audit log.';
      error.hidden = false;
      return;
    }
    ok.disabled = true;
    try {
      await post(path, { ...fields(), reason: why });
      close();
      done?.();
    } catch (err) {
      error.textContent = err.status ? `${err.status} ${err.code}: ${err.message}` : String(err.message ?? err);
      error.hidden = false;
    } finally {
      ok.disabled = false;
    }
  };
  dialog.showModal();
  reason.focus();
}

const LINE_CONTROLS = {
  pause: ['Pause the line', 'The deploy in flight holds at its current step; nothing new starts.'],
  resume: ['Resume', 'A paused line continues; a rollout held at an inconclusive gate or watch bakes again at its step.'],
  abort: ['Abort the deploy in flight', 'Rolls the servers back to the live build.'],
  promote: ['Promote', 'Skip the rest of the current bake and move to the next step.'],
  block: ['Block the line', 'No deploy starts until someone unblocks.'],
  unblock: ['Unblock the line', 'Queued commits start deploying again.'],
  override: [
    'Deploy the held change anyway',
    'Its tree failed before; it deploys once more, through every gate. Recorded with your name and reason.',
  ],
};

/** A button for a line control (pause, resume, abort, promote, block, unblock). */
export function lineControl(action, done, cls = '') {
  const [title, help] = LINE_CONTROLS[action];
  return h(
    'button',
    {
      type: 'button',
      class: `control ${cls}`,
      'data-control': action,
      title: `${help} Needs a captain token.`,
      onclick: () =>
        ask({ title, help: `${help} Needs a token with role captain or admin.`, path: `/api/line/${action}`, done: () => done?.(title) }),
    },
    action[0].toUpperCase() + action.slice(1),
  );
}

/** A captain's action on one thing (drop a commit, retry a deploy, roll back to a release): a reason dialog, then POST. */
export function actionButton(label, { title, help, path, fields }, done, cls = '') {
  return h(
    'button',
    {
      type: 'button',
      class: `control ${cls}`,
      'data-action': label.toLowerCase().split(' ')[0],
      title: `${help} Needs a captain token.`,
      onclick: () => ask({ title, help: `${help} Needs a token with role captain or admin.`, path, fields, done: () => done?.(title) }),
    },
    label,
  );
}
