// The console's shell: sign-in with an API token, navigation, the page of the hash route, and
// the live event stream that tells pages to load again.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, followEvents, token } from './api.js';
import { ErrorNote, html, LiveContext } from './components.js';
import { ApprovalsPage } from './pages/approvals.js';
import { DecisionsPage } from './pages/decisions.js';
import { KeyspacePage } from './pages/keyspace.js';
import { LineagePage } from './pages/lineage.js';
import { NodesPage } from './pages/nodes.js';
import { PlacementPage } from './pages/placement.js';
import { ProposalsPage } from './pages/proposals.js';
import { StagesPage } from './pages/stages.js';

const PAGES = [
  ['stages', 'Stages', StagesPage],
  ['keyspace', 'Key space', KeyspacePage],
  ['nodes', 'Node load', NodesPage],
  ['decisions', 'Decisions', DecisionsPage],
  ['approvals', 'Approvals', ApprovalsPage],
  ['proposals', 'Proposals', ProposalsPage],
  ['placement', 'Placement', PlacementPage],
  ['lineage', 'Lineage', LineagePage],
];

const pageOf = () => location.hash.replace(/^#\/?/, '').split('?')[0] || 'stages';

function SignIn({ error, onToken }) {
  const [text, setText] = useState('');
  return html`<main class="signin">
    <h1>shardcast console</h1>
    <form onSubmit=${(e) => {
      e.preventDefault();
      onToken(text.trim());
    }}>
      <label for="token">API token</label>
      <input id="token" type="password" autocomplete="current-password" value=${text} onInput=${(e) => setText(e.currentTarget.value)} required />
      <button type="submit">Sign in</button>
      <p class="note">A token from <code>SHARDCAST_API_TOKENS</code> (<code>name:role:token</code>); it is kept for this tab only.</p>
    </form>
    <${ErrorNote} error=${error} />
  </main>`;
}

function App() {
  const [who, setWho] = useState(null);
  const [error, setError] = useState(null);
  const [page, setPage] = useState(pageOf());
  const [ticks, setTicks] = useState({});
  const [live, setLive] = useState('connecting');

  const signIn = async () => {
    if (!token.get()) return;
    try {
      setWho(await api('/api/whoami'));
      setError(null);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) token.clear();
      setError(err);
    }
  };
  useEffect(() => {
    signIn();
    const on = () => setPage(pageOf());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  useEffect(() => {
    if (!who) return;
    return followEvents(
      (e) => setTicks((t) => ({ ...t, [e.type]: (t[e.type] ?? 0) + 1 })),
      (s) => {
        setLive(s);
        if (s === 'unauthorized') setWho(null);
      },
    );
  }, [who]);

  if (!who)
    return html`<${SignIn} error=${error} onToken=${(t) => {
      token.set(t);
      signIn();
    }} />`;
  const Page = (PAGES.find(([id]) => id === page) ?? PAGES[0])[2];
  return html`<${LiveContext.Provider} value=${{ ticks, who }}>
    <a class="skip" href="#main">Skip to the page</a>
    <header class="top">
      <span class="brand">shardcast</span>
      <nav aria-label="Pages"><ul>${PAGES.map(
        ([id, label]) => html`<li><a href=${`#/${id}`} aria-current=${id === page ? 'page' : undefined}>${label}</a></li>`,
      )}</ul></nav>
      <span class="who">${who.name} (${who.role}) · <span class=${`live live-${live}`} title="live updates">${live}</span>
        <button class="link" onClick=${() => {
          token.clear();
          setWho(null);
        }}>Sign out</button></span>
    </header>
    <main id="main" tabindex="-1"><${Page} key=${page} /></main>
  <//>`;
}

const root = document.getElementById('app');
root.textContent = ''; // the note shown while the modules load
render(html`<${App} />`, root);
