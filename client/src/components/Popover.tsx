import { createSignal, type JSX, onCleanup, onMount, Show } from 'solid-js';

/** Open popovers close on Esc (one handler per popover, removed with it). */
export function Popover(props: { label: string; title?: string; testid?: string; class?: string; children: JSX.Element; buttonContent?: JSX.Element }) {
  const [open, setOpen] = createSignal(false);
  let root!: HTMLDivElement;
  let button!: HTMLButtonElement;
  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'Escape' && open()) {
      setOpen(false);
      button.focus();
    }
  };
  const onDown = (e: MouseEvent) => {
    if (open() && !root.contains(e.target as Node) && !(e.target as HTMLElement).closest?.('.settings')) setOpen(false);
  };
  onMount(() => {
    document.addEventListener('keydown', onKey);
    document.addEventListener('mousedown', onDown);
  });
  onCleanup(() => {
    document.removeEventListener('keydown', onKey);
    document.removeEventListener('mousedown', onDown);
  });
  return (
    <div class={`popover ${props.class ?? ''}`} ref={root}>
      <button ref={button} class="menu-button" aria-haspopup="dialog" aria-expanded={open()} title={props.title} data-testid={props.testid} onClick={() => setOpen(!open())}>
        {props.buttonContent ?? props.label} <span aria-hidden="true">▾</span>
      </button>
      <Show when={open()}>
        <div class="popover-panel" role="dialog" aria-label={props.label}>
          {props.children}
        </div>
      </Show>
    </div>
  );
}
