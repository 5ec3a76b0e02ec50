// Server component: which build rendered this page (the label and deployment ID
// are inlined at build time, so each build can only ever say its own).
export default function BuildBanner({ page }) {
  return (
    <h1 style={{ fontSize: '1.4rem' }}>
      {page}: rendered by build <span id="rendered-by">{process.env.BUILD_LABEL}</span>{' '}
      <small>
        (deployment ID <code id="deployment-id">{process.env.BUILD_DPL}</code>, Next.js{' '}
        <code id="next-version">{process.env.NEXT_VERSION_SHOWN}</code>)
      </small>
    </h1>
  );
}
