import Hydrated from './Hydrated';

export const metadata = { title: 'skewgate e2e' };

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: 'sans-serif', margin: '1.5rem' }}>
        <p>
          layout rendered by build <b id="layout-rendered-by">{process.env.BUILD_LABEL}</b>
        </p>
        {children}
        <Hydrated />
      </body>
    </html>
  );
}
