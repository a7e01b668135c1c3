import { render } from 'solid-js/web';
import { App } from './App.tsx';
import { market } from './store/market.ts';
import './styles.css';

// Debug/test handle: the store is the client's single source of truth.
(window as unknown as { __market: typeof market }).__market = market;

render(() => <App />, document.getElementById('root')!);
