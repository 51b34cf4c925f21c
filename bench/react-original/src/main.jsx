import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter, Navigate, Route, Routes, useNavigate } from 'react-router';
import { QueryClient, QueryClientProvider, useQuery } from '@tanstack/react-query';
import api from './api.js';

const queryClient = new QueryClient();

// The article's query: GET /user, fresh for five minutes.
function useUser() {
  return useQuery({
    queryKey: ['USER'],
    queryFn: async () => (await api.get('/user')).data,
    staleTime: 5 * 60 * 1000,
  });
}

function LoginPage() {
  const navigate = useNavigate();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState(null);
  const [pending, setPending] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    setPending(true);
    try {
      const { data } = await api.post('/auth/login', { username, password });
      localStorage.setItem('accessToken', data.accessToken);
      navigate('/user');
    } catch (failure) {
      setError(failure.response?.status === 401 ? 'Incorrect username or password.' : 'Sign-in failed.');
    } finally {
      setPending(false);
    }
  };
  return (
    <section className="card">
      <h1>Sign in</h1>
      <form onSubmit={submit}>
        <label htmlFor="username">Username</label>
        <input id="username" autoComplete="username" required value={username}
          onChange={(event) => setUsername(event.target.value)} />
        <label htmlFor="password">Password</label>
        <input id="password" type="password" autoComplete="current-password" required value={password}
          onChange={(event) => setPassword(event.target.value)} />
        {error && <p className="error" role="alert">{error}</p>}
        <button type="submit" disabled={pending}>{pending ? 'Signing in…' : 'Sign in'}</button>
      </form>
    </section>
  );
}

function UserPage() {
  const navigate = useNavigate();
  const { data: user, isPending, error, refetch } = useUser();
  const signOut = async () => {
    await api.post('/auth/logout').catch(() => {});
    localStorage.removeItem('accessToken');
    queryClient.clear();
    navigate('/login');
  };
  return (
    <section className="card">
      <h1>Your account</h1>
      {isPending && <p>Loading…</p>}
      {error && <p className="error" role="alert">Could not load your account.</p>}
      {user && (
        <dl>
          <dt>Name</dt><dd>{user.displayName}</dd>
          <dt>Username</dt><dd>{user.username}</dd>
          <dt>Email</dt><dd>{user.email}</dd>
        </dl>
      )}
      <button type="button" onClick={() => refetch()}>Reload</button>
      <button type="button" onClick={signOut}>Sign out</button>
    </section>
  );
}

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <BrowserRouter>
        <Routes>
          <Route path="/" element={<Navigate to={localStorage.getItem('accessToken') ? '/user' : '/login'} replace />} />
          <Route path="/login" element={<LoginPage />} />
          <Route path="/user" element={<UserPage />} />
        </Routes>
      </BrowserRouter>
    </QueryClientProvider>
  </StrictMode>,
);
