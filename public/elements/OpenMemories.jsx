// The /memories command's reply: opens the memory manager (public/memory_manager.js) once, and again on click.
import { useEffect } from "react";
import { Button } from "@/components/ui/button";
import { Library } from "lucide-react";

export default function OpenMemories() {
  const open = () => window.dispatchEvent(new CustomEvent("assistant:open-memories"));
  useEffect(() => {
    const opened = (window.__assistantOpenedManagers = window.__assistantOpenedManagers || new Set());
    if (props.token && !opened.has(props.token)) {
      opened.add(props.token);
      open();
    }
  }, []);
  return (
    <Button variant="outline" size="sm" onClick={open} className="w-fit gap-2" id="open-memory-manager">
      <Library className="h-4 w-4" />
      Open the memory manager
    </Button>
  );
}
