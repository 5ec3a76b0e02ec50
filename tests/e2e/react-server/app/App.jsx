// The test app's one entry (a React Server Component): "/" is the home page, "/second" the
// page the client navigation goes to. Every page says which build rendered it (#rendered-by).
import { usePathname } from "@lazarv/react-server";
import { Link } from "@lazarv/react-server/navigation";

import { BUILD } from "./build-label.mjs";
import { ActionButton, HydratedForm, Hydrated, JsForm, KeptButton, NoJsForm } from "./client.jsx";
import { counts } from "./state.mjs";

function Home() {
  return (
    <main>
      <h1>skewgate e2e (react-server)</h1>
      <p>Rendered by <span id="rendered-by">{BUILD}</span></p>
      <section>
        <h2>1. server function call (button, try/catch)</h2>
        <ActionButton />
      </section>
      <section>
        <h2>2. JS form (&lt;form action=&#123;fn&#125;&gt;)</h2>
        <JsForm />
        <p>JS form posts handled here: <span id="jsform-count">{counts.jsForm}</span></p>
      </section>
      <section>
        <h2>3. hydrated form (useActionState, errors reach the boundary)</h2>
        <HydratedForm />
      </section>
      <section>
        <h2>4. form without JavaScript</h2>
        <NoJsForm />
        <p>no-JS posts handled here: <span id="nojs-count">{counts.noJs}</span></p>
      </section>
      <section>
        <h2>5. client navigation</h2>
        <Link to="/second" id="link-second">to the second page</Link>
      </section>
      <section>
        <h2>6. the kept function (same id in both builds)</h2>
        <KeptButton />
      </section>
    </main>
  );
}

function Second() {
  return (
    <main id="second-page">
      <h1>second page</h1>
      <p>Rendered by <span id="rendered-by">{BUILD}</span></p>
      <Link to="/" id="link-home">home</Link>
    </main>
  );
}

export default function App() {
  // An RSC request (client navigation, function call) is POST <page>/rsc.x-component: the
  // pathname it renders for can carry that suffix, so the page is matched by prefix.
  const pathname = usePathname();
  const second = pathname === "/second" || pathname.startsWith("/second/");
  return (
    <html lang="en">
      <head>
        <meta charSet="utf-8" />
        <title>{`skewgate e2e react-server ${BUILD}`}</title>
      </head>
      <body>
        <Hydrated />
        {second ? <Second /> : <Home />}
      </body>
    </html>
  );
}
