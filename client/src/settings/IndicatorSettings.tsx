import { For, onCleanup, onMount, Show } from 'solid-js';
import { checkNumber, type SettingsChange, type SettingsModel } from './param-field.ts';

/**
 * Settings of one indicator (a KLineChart built-in or an engine-derived series): its parameters
 * (with their declared ranges), line colours and visibility. Each change applies at once; the
 * caller keeps the state in the URL. Loaded when first opened.
 */
export default function IndicatorSettings(props: { model: SettingsModel; onChange: (c: SettingsChange) => void; onClose: () => void }) {
  let dialog!: HTMLDivElement;
  const current = (): SettingsChange => ({
    params: Object.fromEntries(props.model.params.map((p) => [p.key, p.value])),
    colors: props.model.colors.map((c) => c.value),
    hidden: props.model.hidden,
  });
  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'Escape') props.onClose();
  };
  onMount(() => {
    document.addEventListener('keydown', onKey);
    dialog.querySelector<HTMLElement>('input')?.focus();
  });
  onCleanup(() => document.removeEventListener('keydown', onKey));

  return (
    <div class="settings" role="dialog" aria-label={`${props.model.title} settings`} data-testid="indicator-settings" ref={dialog}>
      <header>
        <strong>{props.model.title}</strong>
        <button class="close" aria-label="Close settings" onClick={() => props.onClose()}>
          ✕
        </button>
      </header>
      <Show when={props.model.params.length}>
        <fieldset>
          <legend>Parameters</legend>
          <For each={props.model.params}>
            {(f, i) => (
              <label>
                <span>{f.label}</span>
                <Show
                  when={typeof f.value === 'number'}
                  fallback={
                    <Show
                      when={typeof f.value === 'boolean'}
                      fallback={
                        <input
                          data-param={f.key}
                          value={String(f.value)}
                          onChange={(e) => props.onChange({ ...current(), params: { ...current().params, [f.key]: e.currentTarget.value.slice(0, 40) } })}
                        />
                      }
                    >
                      <input type="checkbox" data-param={f.key} checked={f.value === true} onChange={(e) => props.onChange({ ...current(), params: { ...current().params, [f.key]: e.currentTarget.checked } })} />
                    </Show>
                  }
                >
                  <input
                    type="number"
                    data-param={f.key}
                    data-param-index={i()}
                    value={String(f.value)}
                    min={f.min}
                    max={f.max}
                    step={f.step ?? (f.integer ? 1 : 'any')}
                    onChange={(e) => {
                      const n = checkNumber(f, e.currentTarget.value);
                      if (n === undefined) {
                        e.currentTarget.setCustomValidity(`${f.label}: ${f.min ?? '−∞'}…${f.max ?? '∞'}${f.integer ? ', whole number' : ''}`);
                        e.currentTarget.reportValidity();
                        return;
                      }
                      e.currentTarget.setCustomValidity('');
                      props.onChange({ ...current(), params: { ...current().params, [f.key]: n } });
                    }}
                  />
                </Show>
                <Show when={f.min !== undefined || f.max !== undefined}>
                  <small>
                    {f.min ?? '…'}–{f.max ?? '…'}
                  </small>
                </Show>
              </label>
            )}
          </For>
        </fieldset>
      </Show>
      <Show when={props.model.colors.length}>
        <fieldset>
          <legend>Colours</legend>
          <For each={props.model.colors}>
            {(c, i) => (
              <label>
                <span>{c.key}</span>
                <input
                  type="color"
                  data-color={c.key}
                  value={c.value}
                  onChange={(e) => {
                    const colors = current().colors.slice();
                    colors[i()] = e.currentTarget.value;
                    props.onChange({ ...current(), colors });
                  }}
                />
              </label>
            )}
          </For>
        </fieldset>
      </Show>
      <label class="visible">
        <input type="checkbox" data-testid="indicator-visible" checked={!props.model.hidden} onChange={(e) => props.onChange({ ...current(), hidden: !e.currentTarget.checked })} />
        <span>Visible</span>
      </label>
    </div>
  );
}
