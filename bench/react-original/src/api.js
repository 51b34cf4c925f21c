// The article's axios instance and its 401 interceptor: refresh once, store the new token, replay.
import axios from 'axios';

const api = axios.create({
  baseURL: '/',
  withCredentials: true,
  headers: { 'X-Requested-With': 'fetch' },
});

api.interceptors.request.use((config) => {
  const token = localStorage.getItem('accessToken');
  if (token) config.headers.Authorization = `Bearer ${token}`;
  return config;
});

api.interceptors.response.use(
  (response) => response,
  async (error) => {
    const original = error.config;
    if (error.response?.status === 401 && !original._retry && !original.url.startsWith('/auth/')) {
      original._retry = true;
      try {
        const { data } = await api.post('/auth/refresh');
        localStorage.setItem('accessToken', data.accessToken);
        return api(original);
      } catch (refreshError) {
        if (refreshError.response?.status === 403) {
          localStorage.removeItem('accessToken');
          alert('Your session has expired. Please sign in again.');
          window.location.href = '/login';
        }
      }
    }
    if (!error.response) alert('Check your network connection.');
    else if (error.response.status >= 500) alert('Server error. Please try again later.');
    return Promise.reject(error);
  },
);

export default api;
