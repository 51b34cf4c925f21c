import { defineConfig } from 'vite';

// No @vitejs/plugin-react: esbuild's automatic JSX runtime is all a production build needs.
export default defineConfig({
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    rollupOptions: {
      // React Server Components markers mean nothing to a client bundle.
      onwarn(warning, warn) {
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
});
