// The signed-in session as pages see it: the user, their organisation (name, time zone, currency, colour)
// and sign-out. Loaded once by the shell; Settings refreshes it after a change.
import { createContext, useContext } from "react";
import type { SessionQuery } from "../gql/graphql";

export type Session = {
  me: SessionQuery["me"];
  organisation: SessionQuery["organisation"];
  refresh: () => void;
  signOut: () => void;
  support: string;
  docs: string;
};

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside the signed-in shell");
  return session;
}
